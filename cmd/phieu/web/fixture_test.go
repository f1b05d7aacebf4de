package web_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/phieu/phieu/cmd/phieu/web"
	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/sqlite"
	"github.com/phieu/phieu/store/storetest"
)

// t0 is when the fixture's invitations go out: 08:02 on 01/07/2025 in
// Vietnam.
var t0 = time.Date(2025, 7, 1, 1, 2, 3, 0, time.UTC)

var ict = time.FixedZone("ICT", 7*3600)

const (
	campaignCode = "PAR2025"
	// hostileName and hostileSubject stand for what a roster file or a
	// reply may carry; every page must show them as text.
	hostileName    = `<script>alert(1)</script>`
	hostileSubject = `Re: Phiếu khảo sát <img src=x onerror=alert(1)>`
	hostileDiag    = `550 5.1.1 <dung.hv@stp.binhson.gov.test>: Recipient address rejected: User unknown <script>alert("diag")</script>`
	// secretAnswer is in every response; no page may ever show it.
	secretAnswer = "Ý KIẾN RIÊNG 4711"

	operatorName     = "mai.nt"
	operatorPassword = "Mật-khẩu-đúng-2025"
	liaisonName      = "kythuat"
	liaisonPassword  = "Kỹ-thuật-viên-2025"
	liaisonToken     = "liaison-token-0123456789abcdef0123456789"
	operatorToken    = "operator-token-0123456789abcdef012345678"
)

// fixture is a province of seven units over three levels, eight members
// of campaign PAR2025, their invitations sent (one refused, one deferred),
// answers over two days and two responses waiting for review.
type fixture struct {
	DB      *sqlite.DB
	Path    string
	DBClock *storetest.Clock // stamps rows
	Now     time.Time        // the campaign clock the server shows
	Real    *storetest.Clock // the wall clock of sessions and backoff

	NeedsReview int64 // Lê Thị Ánh's reply from her secretary's mailbox (hostile subject)
	Late        int64 // Bùi Thị Ngọc Lan's late reply
	Failed      int64 // outbox id of Hoàng Văn Dũng's refused invitation
	Deferred    int64 // outbox id of Đặng Quốc Khánh's deferred invitation
	Hostile     int64 // respondent id of the member named hostileName
}

func unit(code, parent, name, head, title, mailbox string) *store.Unit {
	return &store.Unit{Code: code, ParentCode: parent, Name: name, Head: store.Head{Name: head, Title: title, Mailbox: mailbox}}
}

func person(name, title, unit, group, mailbox string) *store.Respondent {
	return &store.Respondent{FullName: name, Title: title, UnitCode: unit, Group: group, Mailbox: mailbox, Active: true}
}

// testLinkKey ties the fixture's responses to members; a real one is
// derived from the installation secret.
var testLinkKey = []byte("web test link key, never real")

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx := context.Background()
	fx := &fixture{Path: filepath.Join(tb.TempDir(), "phieu.db"), DBClock: storetest.NewClock(t0.Add(-2 * time.Hour)),
		Now: t0.Add(74 * time.Hour), Real: storetest.NewClock(time.Date(2025, 7, 4, 3, 0, 0, 0, time.UTC))}
	fx.DB = sqlite.NewDB(fx.Path)
	fx.DB.Now = fx.DBClock.Now
	fx.DB.LinkKey = testLinkKey
	if err := fx.DB.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fx.DB.Close() })
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	_, err := sqlite.NewUnitService(fx.DB).ImportUnits(ctx, []*store.Unit{
		unit("UBND", "", "Ủy ban nhân dân tỉnh Bình Sơn", "Nguyễn Văn Thắng", "Chủ tịch", "chutich@binhson.gov.test"),
		unit("STP", "UBND", "Sở Tư pháp", "Trần Thị Hồng Nhung", "Giám đốc", "giamdoc@stp.binhson.gov.test"),
		unit("STP-VP", "STP", "Văn phòng Sở Tư pháp", "", "", ""),
		unit("STP-TT", "STP", "Thanh tra Sở Tư pháp", "", "", ""),
		unit("STC", "UBND", "Sở Tài chính", "", "", ""),
		unit("STC-NS", "STC", "Phòng Ngân sách", "", "", ""),
		unit("XPT", "UBND", "UBND xã Phú Thủy", "", "", ""),
	}, store.ImportOptions{})
	must(err)
	_, err = sqlite.NewRespondentService(fx.DB).ImportRespondents(ctx, []*store.Respondent{
		person("Phạm Minh Đức", "Giám đốc", "STP", "LDS", "duc.pm@stp.binhson.gov.test"),
		person("Lê Thị Ánh", "Phó Giám đốc", "STP", "LDS", "anh.lt@stp.binhson.gov.test"),
		person("Hoàng Văn Dũng", "Chánh Văn phòng", "STP-VP", "LDP", "dung.hv@stp.binhson.gov.test"),
		person("Vũ Thị Thu Hằng", "Chánh Thanh tra", "STP-TT", "LDP", "hang.vtt@stp.binhson.gov.test"),
		person("Đặng Quốc Khánh", "Giám đốc", "STC", "LDS", "khanh.dq@stc.binhson.gov.test"),
		person("Bùi Thị Ngọc Lan", "Trưởng phòng Ngân sách", "STC-NS", "LDP", "lan.btn@stc.binhson.gov.test"),
		person("Trương Văn Hải", hostileName, "XPT", "LDS", "hai.tv@phuthuy.binhson.gov.test"),
		person("Đỗ Thị Yến", "Chủ tịch UBND xã", "XPT", "LDS", "yen.dt@phuthuy.binhson.gov.test"),
	}, store.ImportOptions{})
	must(err)
	// The store refuses a name with < or > at import; the page must be
	// safe even so, should one reach the database some other way.
	w, err := sql.Open("sqlite3", fx.Path)
	must(err)
	_, err = w.Exec(`UPDATE respondents SET full_name = ? WHERE mailbox = 'hai.tv@phuthuy.binhson.gov.test'`, hostileName)
	must(err)
	must(w.QueryRow(`SELECT id FROM respondents WHERE mailbox = 'hai.tv@phuthuy.binhson.gov.test'`).Scan(&fx.Hostile))
	must(w.Close())

	campaigns := sqlite.NewCampaignService(fx.DB)
	must(campaigns.CreateCampaign(ctx, &store.Campaign{
		Code:          campaignCode,
		Title:         "Khảo sát Chỉ số cải cách hành chính năm 2025",
		LegalRef:      "Số: 296/UBND-NCKSTTHC ngày 20/06/2025",
		SenderName:    "Sở Nội vụ tỉnh Bình Sơn",
		SenderAddress: "khaosat@snv.binhson.gov.test",
		ReplyTo:       "khaosat@snv.binhson.gov.test",
		Location:      store.DefaultLocation,
		OpensAt:       t0.Add(-time.Hour),
		Deadline:      store.DeadlineEndOfDay(store.Date{Year: 2025, Month: 7, Day: 11}, ict),
		Groups:        []string{"LDS", "LDP"},
		Questionnaire: store.Questionnaire{Title: "Phiếu khảo sát", Questions: []store.Question{
			{Code: "C1", Text: "Mức độ hài lòng", Type: store.AnswerScale, Min: 1, Max: 10, Required: true},
			{Code: "C2", Text: "Góp ý", Type: store.AnswerText},
		}},
		Reminders: store.DefaultReminderPolicy(), Escalation: store.DefaultEscalationPolicy(), Calendar: store.DefaultCalendar(),
	}))
	_, err = campaigns.AddMembers(ctx, campaignCode, store.MemberSelector{})
	must(err)
	must(campaigns.SetCampaignState(ctx, campaignCode, store.CampaignActive))

	refs, err := store.NewRefs([]byte("fixture secret, not a real one 32"))
	must(err)
	outbox := sqlite.NewOutboxService(fx.DB, refs)
	fx.DBClock.Set(t0)
	_, err = outbox.EnqueueInvitations(ctx, campaignCode, 0)
	must(err)
	claimed, err := outbox.ClaimOutbox(ctx, "test", 100, 10*time.Minute)
	must(err)
	ids := map[string]int64{} // respondent mailbox -> id
	var results []*store.OutboxResult
	for _, m := range claimed {
		ids[m.To] = m.RespondentID
		switch m.To {
		case "dung.hv@stp.binhson.gov.test":
			fx.Failed = m.ID
			results = append(results, &store.OutboxResult{ID: m.ID, Event: store.EventFail, Reason: "550 5.1.1 user unknown",
				Attempt: &store.Attempt{At: t0, Stage: store.StageRcpt, Code: 550, Status: "5.1.1", Text: hostileDiag, Outcome: store.OutboxFailed}})
		case "khanh.dq@stc.binhson.gov.test":
			fx.Deferred = m.ID
			results = append(results, &store.OutboxResult{ID: m.ID, Event: store.EventDefer, NextAttemptAt: t0.Add(4 * time.Hour),
				Reason: "452 4.2.2 mailbox full",
				Attempt: &store.Attempt{At: t0, Stage: store.StageRcpt, Code: 452, Status: "4.2.2", Text: "452 4.2.2 Mailbox full: quota exceeded",
					Outcome: store.OutboxDeferred}})
		default:
			results = append(results, &store.OutboxResult{ID: m.ID, Event: store.EventSent,
				Attempt: &store.Attempt{At: t0, Stage: store.StageData, Code: 250, Text: "250 2.0.0 Ok: queued", Outcome: store.OutboxSent}})
		}
	}
	must(outbox.CompleteOutbox(ctx, "test", results))

	inbound := sqlite.NewInboundService(fx.DB, outbox)
	uid := uint32(0)
	reply := func(at time.Time, mailbox, from, subject string, status store.ResponseStatus, reason string) int64 {
		tb.Helper()
		fx.DBClock.Set(at)
		uid++
		m := &store.InboundMessage{Account: "khaosat@127.0.0.1", Mailbox: "INBOX", UIDValidity: 1, UID: uid,
			MessageID: "reply" + string(rune('a'+uid)) + "@binhson.gov.test", ContentHash: "hash-" + string(rune('a'+uid)),
			Kind: store.InboundReply, From: from, Subject: subject, CampaignCode: campaignCode, RespondentID: ids[mailbox],
			Response: &store.Response{RespondentID: ids[mailbox], From: from, Complete: true, Status: status, Reason: reason,
				Answers: []store.ResponseAnswer{{Code: "C1", Value: "8"}, {Code: "C2", Value: secretAnswer}}}}
		if status == store.ResponseNeedsReview {
			m.Review = "trả lời từ hộp thư không phải của thành viên (" + from + "): chưa tính cho đến khi được xác minh"
		}
		if _, err := inbound.RecordInbound(ctx, m, &store.Checkpoint{Account: m.Account, Mailbox: m.Mailbox, UIDValidity: 1, LastUID: uid}); err != nil {
			tb.Fatal(err)
		}
		return m.Response.ID
	}
	reply(t0.Add(2*time.Hour), "duc.pm@stp.binhson.gov.test", "duc.pm@stp.binhson.gov.test", "Re: Phiếu khảo sát", store.ResponseCounted, "")
	reply(t0.Add(26*time.Hour), "hang.vtt@stp.binhson.gov.test", "hang.vtt@stp.binhson.gov.test", "Re: Phiếu khảo sát", store.ResponseCounted, "")
	reply(t0.Add(27*time.Hour), "yen.dt@phuthuy.binhson.gov.test", "yen.dt@phuthuy.binhson.gov.test", "Trả lời: Phiếu khảo sát", store.ResponseCounted, "")
	fx.NeedsReview = reply(t0.Add(50*time.Hour), "anh.lt@stp.binhson.gov.test", "thuky.stp@stp.binhson.gov.test", hostileSubject,
		store.ResponseNeedsReview, "trả lời từ hộp thư khác: thuky.stp@stp.binhson.gov.test")
	fx.Late = reply(t0.Add(51*time.Hour), "lan.btn@stc.binhson.gov.test", "lan.btn@stc.binhson.gov.test", "Re: Phiếu khảo sát (gửi muộn)",
		store.ResponseLate, "nhận sau hạn")
	fx.DBClock.Set(fx.Now)
	return fx
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func mustHash(tb testing.TB, password string) string {
	tb.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	return string(h)
}

// config is the fixture's server configuration: an operator, a liaison and
// a token of each role.
func (fx *fixture) config(tb testing.TB) web.Config {
	return web.Config{
		Addr: "127.0.0.1:0",
		DB:   fx.DB,
		Users: []web.User{
			{Name: operatorName, PasswordHash: mustHash(tb, operatorPassword), Role: web.RoleOperator},
			{Name: liaisonName, PasswordHash: mustHash(tb, liaisonPassword), Role: web.RoleLiaison},
		},
		Tokens:     map[string]web.Role{liaisonToken: web.RoleLiaison, operatorToken: web.RoleOperator},
		SessionKey: []byte("0123456789abcdef0123456789abcdef-test-only"),
		Location:   ict,
		Now:        func() time.Time { return fx.Now },
		RealNow:    fx.Real.Now,
		Logger:     quietLogger,
	}
}

// serve starts an httptest server on the fixture, cfg changed by edit.
func (fx *fixture) serve(tb testing.TB, edit func(*web.Config)) *httptest.Server {
	tb.Helper()
	cfg := fx.config(tb)
	if edit != nil {
		edit(&cfg)
	}
	srv, err := web.NewServer(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	return ts
}

// client is a browser without JavaScript: it keeps cookies and does not
// follow redirects, so tests see them.
type client struct {
	tb   testing.TB
	base string
	http *http.Client
}

func newClient(tb testing.TB, ts *httptest.Server) *client {
	jar, _ := cookiejar.New(nil)
	return &client{tb: tb, base: ts.URL, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// response is a status, headers and body.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func (c *client) do(req *http.Request) response {
	c.tb.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

func (c *client) get(path string) response {
	c.tb.Helper()
	req, err := http.NewRequest("GET", c.base+path, nil)
	if err != nil {
		c.tb.Fatal(err)
	}
	return c.do(req)
}

func (c *client) post(path string, form url.Values) response {
	c.tb.Helper()
	req, err := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the first form in body.
func csrf(tb testing.TB, body string) string {
	tb.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		tb.Fatalf("no csrf field in:\n%s", body)
	}
	return m[1]
}

// login signs in with form (name and password, or token) from the sign-in
// page's form, and returns the response to the POST.
func (c *client) login(form url.Values) response {
	c.tb.Helper()
	page := c.get("/login")
	form.Set("csrf", csrf(c.tb, page.Body))
	return c.post("/login", form)
}

// signIn signs in with a name and password and fails the test otherwise;
// it returns the session's CSRF token.
func (c *client) signIn(name, password string) string {
	c.tb.Helper()
	resp := c.login(url.Values{"name": {name}, "password": {password}})
	if resp.Status != http.StatusSeeOther {
		c.tb.Fatalf("sign in as %s: %d\n%s", name, resp.Status, resp.Body)
	}
	return csrf(c.tb, c.get("/").Body)
}

// mustGet fetches path and fails unless it answers 200.
func (c *client) mustGet(path string) string {
	c.tb.Helper()
	resp := c.get(path)
	if resp.Status != http.StatusOK {
		c.tb.Fatalf("GET %s: %d\n%s", path, resp.Status, resp.Body)
	}
	return resp.Body
}
