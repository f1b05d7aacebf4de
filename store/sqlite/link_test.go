package sqlite_test

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
)

// secretAnswer is an answer no other text in the fixture holds, so finding
// it anywhere but in responses is a leak.
const secretAnswer = "bí-mật-4242"

// linkOf computes a member link as migration 0005 defines it.
func linkOf(key []byte, campaign string, respondentID int64) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("phieu response link v1\x00" + campaign + "\x00" + strconv.FormatInt(respondentID, 10)))
	return hex.EncodeToString(mac.Sum(nil))
}

// answeredCampaign records twelve replies of three members over two days,
// receipts included, and decides one from another mailbox. It returns the
// responses in the order they arrived: 4 (accepted) and 7 (waiting) came
// from another mailbox.
func answeredCampaign(t *testing.T) (*sqlite.DB, *sqlite.InboundService, []*store.Response, map[string]int64) {
	t.Helper()
	ctx := store.NewContextWithActor(context.Background(), "cli:thu")
	db, clock, outbox := openOutbox(t)
	in := sqlite.NewInboundService(db, outbox)
	ids := map[string]int64{}
	for _, mb := range []string{"an.nv@stp.gov.test", "bich.tt@stp.gov.test", "cuong.lh@stc.gov.test"} {
		ids[mb] = respondentID(t, db, mb)
	}
	var arrived []*store.Response
	uid := uint32(0)
	for i := range 12 {
		uid++
		mb := []string{"an.nv@stp.gov.test", "bich.tt@stp.gov.test", "cuong.lh@stc.gov.test"}[i%3]
		from, status, review := mb, store.ResponseCounted, ""
		if i == 4 || i == 7 {
			from, status, review = "someone@gmail.test", store.ResponseNeedsReview, "trả lời từ hộp thư không phải của thành viên"
		}
		r := &store.Response{RespondentID: ids[mb], From: from, Complete: true, Status: status,
			Answers: []store.ResponseAnswer{{Code: "C1", Value: fmt.Sprintf("%s-%d", secretAnswer, i)}}}
		m := &store.InboundMessage{Account: "a", Mailbox: "INBOX", UIDValidity: 1, UID: uid, MessageID: fmt.Sprintf("r%d@x.test", uid),
			ContentHash: fmt.Sprintf("hash%d", uid), Kind: store.InboundReply, From: from, CampaignCode: "PAR2025",
			RespondentID: ids[mb], Review: review, Response: r}
		if status == store.ResponseCounted {
			m.Enqueue = []*store.OutboxMessage{{CampaignCode: "PAR2025", Kind: store.KindReceipt, RespondentID: ids[mb],
				Payload: []byte(`{"answers":[{"code":"C1","value":"` + secretAnswer + `"}]}`), NotBefore: clock.Now()}}
		}
		if _, err := in.RecordInbound(ctx, m, &store.Checkpoint{Account: "a", Mailbox: "INBOX", UIDValidity: 1, LastUID: uid}); err != nil {
			t.Fatal(err)
		}
		arrived = append(arrived, r)
		clock.Add(97 * time.Minute) // twelve replies over two days in Vietnam
	}
	if _, err := in.AcceptResponse(ctx, arrived[4].ID); err != nil {
		t.Fatal(err)
	}
	return db, in, arrived, ids
}

// A copy of the database, opened without the link key, holds no way from
// a member to their answers: the response rows name no respondent, sender
// or message, their ids and days follow no arrival order, no other table
// holds a response's id, link or answers, and the store refuses every
// question that needs the link. With the key the same questions work.
func TestResponses_CopyWithoutKeyCannotLink(t *testing.T) {
	ctx := context.Background()
	db, in, arrived, ids := answeredCampaign(t)
	an := ids["an.nv@stp.gov.test"]
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	if err := db.Backup(ctx, copyPath); err != nil {
		t.Fatal(err)
	}

	raw, err := sql.Open("sqlite3", copyPath+"?_query_only=on")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	strs := func(q string, args ...any) []string {
		t.Helper()
		rows, err := raw.Query(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s sql.NullString
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s.String)
		}
		return out
	}

	t.Run("NoIdentityColumns", func(t *testing.T) {
		cols := strs(`SELECT name FROM pragma_table_info('responses')`)
		for _, c := range []string{"respondent_id", "from_addr", "inbound_id"} {
			if slices.Contains(cols, c) {
				t.Errorf("responses has column %s: %q", c, cols)
			}
		}
		if refs := strs(`SELECT "table" FROM pragma_foreign_key_list('responses')`); !slices.Equal(refs, []string{"campaigns"}) {
			t.Errorf("responses refer to %q, want only campaigns", refs)
		}
	})

	t.Run("IdsFollowNoArrivalOrder", func(t *testing.T) {
		var got []int64
		for _, r := range arrived {
			got = append(got, r.ID)
		}
		if slices.IsSorted(got) || slices.IsSortedFunc(got, func(a, b int64) int { return cmp.Compare(b, a) }) {
			t.Errorf("response ids in arrival order: %v", got)
		}
		if n := strs(`SELECT count(*) FROM responses WHERE id < 1000000`); n[0] != "0" {
			t.Errorf("%s small response ids: rowids, not random", n[0])
		}
	})

	t.Run("DaysOnly", func(t *testing.T) {
		loc, err := time.LoadLocation(store.DefaultLocation)
		if err != nil {
			t.Fatal(err)
		}
		days := map[string]bool{}
		for _, s := range strs(`SELECT received_at FROM responses`) {
			at, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatal(err)
			}
			if h, m, sec := at.In(loc).Clock(); h != 0 || m != 0 || sec != 0 || at.Nanosecond() != 0 {
				t.Errorf("received_at %s is not the start of a day in Vietnam", s)
			}
			days[s] = true
		}
		if len(days) != 2 {
			t.Errorf("%d distinct days, want 2: %v", len(days), days)
		}
	})

	t.Run("NothingElseNamesAResponse", func(t *testing.T) {
		var needles []string
		for _, r := range arrived {
			needles = append(needles, strconv.FormatInt(r.ID, 10))
		}
		needles = append(needles, strs(`SELECT DISTINCT member_link FROM responses`)...)
		needles = append(needles, secretAnswer)
		for _, table := range strs(`SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'responses'`) {
			for _, col := range strs(`SELECT name FROM pragma_table_info(?)`, table) {
				for _, n := range needles {
					q := fmt.Sprintf(`SELECT count(*) FROM %q WHERE instr(CAST(%q AS TEXT), ?) > 0`, table, col)
					if c := strs(q, n); c[0] != "0" {
						t.Errorf("%s.%s holds %q", table, col, n)
					}
				}
			}
		}
	})

	t.Run("LinksNeedTheKey", func(t *testing.T) {
		links := strs(`SELECT member_link FROM responses`)
		if !slices.Contains(links, linkOf(testLinkKey, "PAR2025", an)) {
			t.Fatal("the member's link under the right key is not stored: this test proves nothing")
		}
		for _, key := range [][]byte{nil, []byte("another key"), []byte("PAR2025")} {
			if slices.Contains(links, linkOf(key, "PAR2025", an)) {
				t.Errorf("a link computed under %q matches", key)
			}
		}
	})

	copyDB := sqlite.NewDB(copyPath)
	if err := copyDB.Open(); err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	copyIn := sqlite.NewInboundService(copyDB, sqlite.NewOutboxService(copyDB, nil))

	t.Run("StoreWithoutKey", func(t *testing.T) {
		if _, err := copyIn.FindResponses(ctx, "PAR2025", an); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("a member's responses without the key: %v, want not found", err)
		}
		if _, _, err := copyIn.ResponseMember(ctx, arrived[0].ID); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("response member without the key: %v, want not found", err)
		}
		all, err := copyIn.FindResponses(ctx, "PAR2025", 0)
		if err != nil || len(all) != len(arrived) {
			t.Fatalf("all responses without the key: %d, %v", len(all), err)
		}
		for _, r := range all {
			if r.RespondentID != 0 || r.From != "" || r.UnitCode == "" {
				t.Errorf("de-identified response %+v", r)
			}
		}
		if rev, err := copyIn.RejectResponse(store.NewContextWithActor(ctx, "x"), arrived[7].ID); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("rejected without the key: %+v, %v, want not found", rev, err)
		}
		if rev, err := copyIn.AcceptResponse(store.NewContextWithActor(ctx, "x"), arrived[7].ID); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("accepted without the key: %+v, %v, want not found", rev, err)
		}
		queue, err := copyIn.FindReviewQueue(ctx, "PAR2025")
		if err != nil || len(queue) != 1 || queue[0].ID != arrived[7].ID || queue[0].RespondentID != 0 {
			t.Errorf("review queue without the key: %v, %v", queue, err)
		}
		cs, err := sqlite.NewDashboardService(copyDB).FindResponseContexts(ctx, []int64{arrived[0].ID})
		if err != nil || cs[arrived[0].ID] == nil || cs[arrived[0].ID].Name != "không xác định được (thiếu khóa)" || cs[arrived[0].ID].Mailbox != "" {
			t.Errorf("review context without the key: %+v, %v", cs[arrived[0].ID], err)
		}
		receipts, _, err := sqlite.NewOutboxService(copyDB, nil).FindOutbox(ctx, store.OutboxFilter{CampaignCode: "PAR2025", Kind: store.KindReceipt})
		if err != nil || len(receipts) == 0 {
			t.Fatalf("receipts: %d, %v", len(receipts), err)
		}
		for _, m := range receipts {
			if strings.Contains(string(m.Payload), secretAnswer) || strings.HasPrefix(string(m.Payload), "{") {
				t.Errorf("receipt %d payload readable without the key: %q", m.ID, m.Payload)
			}
		}
	})

	t.Run("StoreWithKey", func(t *testing.T) {
		rs, err := in.FindResponses(ctx, "PAR2025", an)
		if err != nil || len(rs) != 4 {
			t.Fatalf("an's responses: %d, %v", len(rs), err)
		}
		for _, r := range rs {
			if r.RespondentID != an || r.From != "an.nv@stp.gov.test" || r.UnitCode != "STP" || r.GroupCode != "LDS" {
				t.Errorf("an's response %+v", r)
			}
		}
		if rev, err := in.RejectResponse(store.NewContextWithActor(ctx, "x"), arrived[7].ID); err != nil || rev.RespondentID != ids["bich.tt@stp.gov.test"] {
			t.Errorf("rejected with the key: %+v, %v", rev, err)
		}
		code, who, err := in.ResponseMember(ctx, arrived[4].ID)
		if err != nil || code != "PAR2025" || who != ids["bich.tt@stp.gov.test"] {
			t.Errorf("response member: %s %d %v", code, who, err)
		}
		all, err := in.FindResponses(ctx, "PAR2025", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range all {
			if r.ID == arrived[4].ID && r.From != "someone@gmail.test" {
				t.Errorf("the accepted reply from another mailbox shows sender %q", r.From)
			}
		}
		cs, err := sqlite.NewDashboardService(db).FindResponseContexts(ctx, []int64{arrived[4].ID})
		if c := cs[arrived[4].ID]; err != nil || c == nil || c.Mailbox != "bich.tt@stp.gov.test" || c.Name != "Trần Thị Bích" {
			t.Errorf("review context with the key: %+v, %v", c, err)
		}
		receipts, _, err := sqlite.NewOutboxService(db, nil).FindOutbox(ctx, store.OutboxFilter{CampaignCode: "PAR2025", Kind: store.KindReceipt})
		if err != nil || len(receipts) == 0 {
			t.Fatalf("receipts: %d, %v", len(receipts), err)
		}
		for _, m := range receipts {
			if !strings.Contains(string(m.Payload), secretAnswer) {
				t.Errorf("receipt %d payload with the key: %q", m.ID, m.Payload)
			}
		}
	})
}

// legacyTime stamps the rows of oldDatabase.
const legacyTime = "2025-07-01T01:00:00.000000000Z"

// oldDatabase creates a database at path as a phieu that knew migrations
// up to before-1 left it, with unit STP, respondent 7 (An, group LDS),
// campaign 3 (PAR2025) with 7 as a member in status member, and reply 5
// in the inbound table; the caller adds responses and closes it.
func oldDatabase(t *testing.T, path string, before int, member string) *sql.DB {
	t.Helper()
	old, err := sql.Open("sqlite3", path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { old.Close() })
	if _, err := old.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	names, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	for i, name := range names[:before-1] {
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.Exec(string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := old.Exec(`INSERT INTO schema_migrations VALUES (?, ?, '2025-01-01T00:00:00.000000000Z')`, i+1, filepath.Base(name)); err != nil {
			t.Fatal(err)
		}
	}
	const ts = legacyTime
	for _, q := range []string{
		`INSERT INTO units (id, code, name, created_at, updated_at) VALUES (1, 'STP', 'Sở Tư pháp', '` + ts + `', '` + ts + `')`,
		`INSERT INTO respondents (id, full_name, given_name, given_key, family_key, middle_key, unit_id, group_code, mailbox,
			created_at, updated_at) VALUES (7, 'Nguyễn Văn An', 'An', x'01', x'02', x'03', 1, 'LDS', 'an.nv@stp.gov.test', '` + ts + `', '` + ts + `')`,
		`INSERT INTO campaigns (id, code, title, sender_name, sender_address, reply_to, location, opens_at, deadline,
			reminders, escalation, calendar, rates, created_at, updated_at) VALUES (3, 'PAR2025', 'Khảo sát', 'UBND', 'ks@tinh.gov.test',
			'phieu@tinh.gov.test', 'Asia/Ho_Chi_Minh', '` + ts + `', '` + ts + `', '{}', '{}', '{}', '{}', '` + ts + `', '` + ts + `')`,
		`INSERT INTO campaign_members (campaign_id, respondent_id, status, added_at, status_changed_at)
			VALUES (3, 7, '` + member + `', '` + ts + `', '` + ts + `')`,
		`INSERT INTO inbound (id, account, mailbox, uid_validity, uid, content_hash, kind, processed_at)
			VALUES (5, 'a', 'INBOX', 1, 1, 'h', 'reply', '` + ts + `')`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return old
}

// A database from before 0005 still names the respondent on each
// response. Opened without the key it is refused, unchanged, as often as
// asked; with the key its responses are relinked in place (new random ids,
// days only, unit and group kept, receipts sealed), once.
func TestMigration0005_Relink(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "phieu.db")
	old := oldDatabase(t, path, 5, "answered")
	const ts = legacyTime
	const oldSender = "only.on.old.responses@gmail.test"
	for _, q := range []string{
		`INSERT INTO responses (id, campaign_id, respondent_id, inbound_id, seq, received_at, from_addr, answers, problems, complete, status, reason)
			VALUES (40, 3, 7, 5, 1, '2025-07-01T01:02:03.000000000Z', '` + oldSender + `', '[]', '[]', 0, 'superseded', ''),
			       (41, 3, 7, 5, 2, '2025-07-01T18:30:00.000000000Z', '` + oldSender + `', '[{"code":"C1","value":"` + secretAnswer + `"}]', '[]', 1, 'counted', '')`,
		`INSERT INTO outbox (id, campaign_id, recipient_key, kind, round, respondent_id, to_addr, message_id, payload, not_before,
			next_attempt_at, created_at, updated_at) VALUES (9, 3, 'r:7:receipt:2', 'receipt', 2, 7, 'an.nv@stp.gov.test', '<m9@x.test>',
			CAST('{"answers":[{"code":"C1","value":"` + secretAnswer + `"}]}' AS BLOB), '` + ts + `', '` + ts + `', '` + ts + `', '` + ts + `')`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		db := sqlite.NewDB(path)
		err := db.Open()
		if store.ErrorCode(err) != store.EINVALID || !strings.Contains(err.Error(), "installation secret") {
			t.Fatalf("opened without the key: %v, want a refusal naming the secret", err)
		}
	}
	raw, err := sql.Open("sqlite3", path+"?_query_only=on")
	if err != nil {
		t.Fatal(err)
	}
	var waiting int
	if err := raw.QueryRow(`SELECT count(*) FROM responses_unlinked`).Scan(&waiting); err != nil || waiting != 2 {
		t.Fatalf("responses waiting after refused opens: %d, %v", waiting, err)
	}
	raw.Close()

	var firstIDs []string
	for i := range 2 {
		db, _ := MustOpenDBAt(t, path)
		got := queryStrings(t, db, `SELECT id || '|' || member_link || '|' || seq || '|' || received_at || '|' || unit_code || '|' || group_code || '|' ||
			status FROM responses ORDER BY seq`)
		link := linkOf(testLinkKey, "PAR2025", 7)
		want := []string{
			"|" + link + "|1|2025-06-30T17:00:00.000000000Z|STP|LDS|superseded", // 08:02 on 01/07 in Vietnam
			"|" + link + "|2|2025-07-01T17:00:00.000000000Z|STP|LDS|counted",    // 01:30 on 02/07
		}
		var ids []string
		for j, g := range got {
			id, rest, _ := strings.Cut(g, "|")
			ids = append(ids, id)
			if "|"+rest != want[j] || id == "40" || id == "41" {
				t.Errorf("relinked response %s, want an id and %s", g, want[j])
			}
		}
		if len(got) != 2 {
			t.Fatalf("%d responses after relinking, want 2", len(got))
		}
		if i == 0 {
			firstIDs = ids
		} else if !slices.Equal(ids, firstIDs) {
			t.Errorf("relinked again: ids %v, then %v", firstIDs, ids)
		}
		if n := queryStrings(t, db, `SELECT count(*) FROM sqlite_master WHERE name = 'responses_unlinked'`); n[0] != "0" {
			t.Error("responses_unlinked left behind")
		}
		if n := queryStrings(t, db, `SELECT count(*) FROM outbox WHERE instr(CAST(payload AS TEXT), ?) > 0`, secretAnswer); n[0] != "0" {
			t.Error("an old receipt still shows the answers")
		}
		// Nor do the old rows linger in free pages or the WAL.
		for _, f := range []string{path, path + "-wal"} {
			if raw, err := os.ReadFile(f); err == nil && strings.Contains(string(raw), oldSender) {
				t.Errorf("%s still holds the old responses' sender", filepath.Base(f))
			}
		}
		rs, err := sqlite.NewInboundService(db, nil).FindResponses(ctx, "PAR2025", 7)
		if err != nil || len(rs) != 2 || rs[0].Answers[0].Value != secretAnswer || rs[0].RespondentID != 7 {
			t.Fatalf("the member's responses after relinking: %+v, %v", rs, err)
		}
		msgs, _, err := sqlite.NewOutboxService(db, nil).FindOutbox(ctx, store.OutboxFilter{CampaignCode: "PAR2025"})
		if err != nil || len(msgs) != 1 || !strings.Contains(string(msgs[0].Payload), secretAnswer) {
			t.Fatalf("the sealed receipt read with the key: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// A database from before 0005 that has no responses opens without the
	// key: there is nothing to link.
	t.Run("NothingToRelink", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "empty.db")
		if err := oldDatabase(t, path, 5, "invited").Close(); err != nil {
			t.Fatal(err)
		}
		db := sqlite.NewDB(path)
		if err := db.Open(); err != nil {
			t.Fatalf("opening a database with no responses without the key: %v", err)
		}
		defer db.Close()
		if n := queryStrings(t, db, `SELECT count(*) FROM sqlite_master WHERE name = 'responses_unlinked'`); n[0] != "0" {
			t.Error("responses_unlinked left behind")
		}
	})
}

// The links of a campaign's members are cached; a member added later is
// still found, and a response no member's link matches is nobody's.
func TestResponseMember_MemberAddedLater(t *testing.T) {
	ctx := context.Background()
	db, clock, outbox := openOutbox(t)
	in := sqlite.NewInboundService(db, outbox)
	rp := &replies{tb: t, in: in, clock: clock}
	an := respondentID(t, db, "an.nv@stp.gov.test")
	first := rp.record(an, "an.nv@stp.gov.test", store.ResponseCounted)
	if _, who, err := in.ResponseMember(ctx, first.ID); err != nil || who != an {
		t.Fatalf("first member: %d, %v", who, err)
	}
	mustImportRespondents(t, db, append(three(), r("CB009", "Phạm Thu Dung", "STP", "CV", "dung.pt@stp.gov.test")), store.ImportOptions{})
	if _, err := sqlite.NewCampaignService(db).AddMembers(ctx, "PAR2025", store.MemberSelector{}); err != nil {
		t.Fatal(err)
	}
	dung := respondentID(t, db, "dung.pt@stp.gov.test")
	later := rp.record(dung, "dung.pt@stp.gov.test", store.ResponseCounted)
	if _, who, err := in.ResponseMember(ctx, later.ID); err != nil || who != dung {
		t.Errorf("member added later: %d, %v, want %d", who, err, dung)
	}

	// The same file under another key: every link is a stranger's.
	other := sqlite.NewDB(db.Path())
	other.LinkKey = []byte("a key the responses were not stored under")
	if err := other.Open(); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherIn := sqlite.NewInboundService(other, nil)
	for range 2 {
		if _, who, err := otherIn.ResponseMember(ctx, first.ID); store.ErrorCode(err) != store.ENOTFOUND {
			t.Errorf("under another key: %d, %v, want not found", who, err)
		}
	}
	rs, err := otherIn.FindResponses(ctx, "PAR2025", 0)
	if err != nil || len(rs) != 2 || rs[0].RespondentID != 0 || rs[1].RespondentID != 0 {
		t.Errorf("responses under another key: %v, %v", rs, err)
	}
}
