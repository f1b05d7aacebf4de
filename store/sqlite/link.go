package sqlite

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/phieu/phieu/store"
)

// Responses are stored under a member link, not a respondent id: the hex
// HMAC-SHA256 under DB.LinkKey of the campaign code and respondent id. With
// the key phieu recomputes a member's link to find their answers, or the
// links of a campaign's members to tell whose a response is; a copy of the
// database alone has no key and so no way back from answers to people.

// linkLabel separates these HMACs from every other use of the key.
const linkLabel = "phieu response link v1"

// errNoLinkKey is returned whenever the member behind a response is needed
// and the key is not loaded.
var errNoLinkKey = store.Errorf(store.ENOTFOUND,
	"whose response this is cannot be told without the installation secret (the link key is not loaded)")

// memberLink is the link of a campaign's member; "" without a key.
func memberLink(key []byte, campaignCode string, respondentID int64) string {
	if len(key) == 0 {
		return ""
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(linkLabel))
	mac.Write([]byte{0})
	mac.Write([]byte(campaignCode))
	mac.Write([]byte{0})
	mac.Write([]byte(strconv.FormatInt(respondentID, 10)))
	return hex.EncodeToString(mac.Sum(nil))
}

// link is the member's link under the DB's key, errNoLinkKey without one.
func (db *DB) link(campaignCode string, respondentID int64) (string, error) {
	if len(db.LinkKey) == 0 {
		return "", errNoLinkKey
	}
	return memberLink(db.LinkKey, campaignCode, respondentID), nil
}

// linkCache maps each campaign's member links back to respondent ids. A
// campaign's map is computed once, and again only when a link is missing
// from it and the campaign has gained members since (members are never
// removed): a link no member has (the secret changed) costs a count, not
// a recomputation.
type linkCache struct {
	mu    sync.Mutex
	byCmp map[int64]*campaignLinks
}

type campaignLinks struct {
	members int
	links   map[string]int64
}

// memberOf returns the respondent whose link in the campaign is link, 0 if
// none of its members has it (a member removed, a key that changed), or
// errNoLinkKey. q runs on the caller's transaction or pool.
func (db *DB) memberOf(ctx context.Context, q querier, campaignID int64, link string) (int64, error) {
	if len(db.LinkKey) == 0 {
		return 0, errNoLinkKey
	}
	db.links.mu.Lock()
	defer db.links.mu.Unlock()
	cached := db.links.byCmp[campaignID]
	if cached != nil {
		if id, ok := cached.links[link]; ok {
			return id, nil
		}
		var members int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM campaign_members WHERE campaign_id = ?`, campaignID).Scan(&members); err != nil {
			return 0, fmt.Errorf("member links: %w", err)
		}
		if members == cached.members {
			return 0, nil
		}
	}
	cached, err := memberLinks(ctx, q, db.LinkKey, campaignID)
	if err != nil {
		return 0, err
	}
	if db.links.byCmp == nil {
		db.links.byCmp = map[int64]*campaignLinks{}
	}
	db.links.byCmp[campaignID] = cached
	return cached.links[link], nil
}

// querier is what both a transaction and a pool offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// memberLinks computes the link of every member of the campaign.
func memberLinks(ctx context.Context, q querier, key []byte, campaignID int64) (*campaignLinks, error) {
	rows, err := q.QueryContext(ctx, `SELECT c.code, m.respondent_id FROM campaign_members m
		JOIN campaigns c ON c.id = m.campaign_id WHERE m.campaign_id = ?`, campaignID)
	if err != nil {
		return nil, fmt.Errorf("member links: %w", err)
	}
	defer rows.Close()
	out := &campaignLinks{links: map[string]int64{}}
	for rows.Next() {
		var code string
		var id int64
		if err := rows.Scan(&code, &id); err != nil {
			return nil, fmt.Errorf("member links: %w", err)
		}
		out.links[memberLink(key, code, id)] = id
		out.members++
	}
	return out, rows.Err()
}

// newResponseID returns a random id in 1 .. 2^63-1: response ids carry no
// order that could be matched to the order of inbound messages.
func newResponseID() int64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if id := int64(binary.BigEndian.Uint64(b[:]) >> 1); id != 0 {
			return id
		}
	}
}

// receivedDay is the instant stored for a response received at t: the
// start of its day in the campaign's time zone. The exact time decided at
// intake whether it was late; it is not kept.
func receivedDay(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc).UTC()
}

// relink converts the responses migration 0005 set aside (they still name
// their respondent) into linked ones, in one transaction, and drops the
// holding table; it does nothing once that is done. Without the link key
// it refuses a database that still holds such responses: opening it
// without converting them would leave who-answered-what in the file.
func (db *DB) relink(ctx context.Context) error {
	var n int
	if err := db.write.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master
		WHERE type = 'table' AND name = 'responses_unlinked'`).Scan(&n); err != nil {
		return fmt.Errorf("sqlite: relink: %w", err)
	}
	if n == 0 {
		return nil
	}
	tx, err := db.BeginTx(ctx, true)
	if err != nil {
		return fmt.Errorf("sqlite: relink: %w", err)
	}
	defer tx.Rollback()
	var pending int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM responses_unlinked`).Scan(&pending); err != nil {
		return fmt.Errorf("sqlite: relink: %w", err)
	}
	if len(db.LinkKey) == 0 {
		var payloads int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox
			WHERE kind IN ('receipt', 'correction') AND length(payload) > 0 AND hex(substr(payload, 1, 1)) = '7B'`).Scan(&payloads); err != nil {
			return fmt.Errorf("sqlite: relink: %w", err)
		}
		pending += payloads
	}
	if pending > 0 && len(db.LinkKey) == 0 {
		return store.Errorf(store.EINVALID, "%s holds %d responses or receipts stored before answers were separated from members; "+
			"open it once with the installation secret ($PHIEU_SECRET or secret_file) so phieu can convert them", db.DSN, pending)
	}
	// Overwrite what is deleted, so the old rows do not linger in free pages.
	if _, err := tx.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("sqlite: relink: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT r.campaign_id, c.code, c.location, r.respondent_id, r.seq, r.received_at,
		coalesce(u.code, ''), coalesce(p.group_code, ''), r.answers, r.problems, r.complete, r.status, r.reason
		FROM responses_unlinked r JOIN campaigns c ON c.id = r.campaign_id
		LEFT JOIN respondents p ON p.id = r.respondent_id LEFT JOIN units u ON u.id = p.unit_id`)
	if err != nil {
		return fmt.Errorf("sqlite: relink: %w", err)
	}
	type row struct {
		campaignID, respondentID, seq     int64
		code, location, at, unit, group   string
		answers, problems, status, reason string
		complete                          bool
	}
	var old []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.campaignID, &r.code, &r.location, &r.respondentID, &r.seq, &r.at, &r.unit, &r.group,
			&r.answers, &r.problems, &r.complete, &r.status, &r.reason); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: relink: %w", err)
		}
		old = append(old, r)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("sqlite: relink: %w", err)
	}
	for _, r := range old {
		at, err := parseTime(r.at)
		if err != nil {
			return fmt.Errorf("sqlite: relink: %w", err)
		}
		day := receivedDay(at, (&store.Campaign{Location: r.location}).Loc())
		if _, err := insertResponse(ctx, tx, r.campaignID, memberLink(db.LinkKey, r.code, r.respondentID), r.seq, day,
			r.unit, r.group, r.answers, r.problems, r.complete, r.status, r.reason); err != nil {
			return fmt.Errorf("sqlite: relink: %w", err)
		}
	}
	if err := sealOldPayloads(ctx, tx, db.LinkKey); err != nil {
		return fmt.Errorf("sqlite: relink: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE responses_unlinked`); err != nil {
		return fmt.Errorf("sqlite: relink: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: relink: commit: %w", err)
	}
	if _, err := db.write.ExecContext(ctx, `PRAGMA secure_delete = OFF`); err != nil {
		return fmt.Errorf("sqlite: relink: %w", err)
	}
	// The pages just freed are zeroed, but earlier rebuilds of the table
	// (migration 0004) left copies of old rows in free pages, and the WAL
	// holds the old pages until it is checkpointed: rewrite the file once
	// and empty the WAL.
	if pending > 0 {
		if _, err := db.write.ExecContext(ctx, `VACUUM`); err != nil {
			return fmt.Errorf("sqlite: relink: vacuum: %w", err)
		}
	}
	if _, err := db.write.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("sqlite: relink: checkpoint: %w", err)
	}
	return nil
}

const insertResponseQuery = `INSERT INTO responses (id, campaign_id, member_link, seq, received_at, unit_code, group_code,
	answers, problems, complete, status, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO NOTHING`

// insertResponse stores a response under a fresh random id, drawing again
// in the unlikely event that it is taken.
func insertResponse(ctx context.Context, tx *Tx, campaignID int64, link string, seq int64, day time.Time,
	unit, group, answers, problems string, complete bool, status, reason string) (int64, error) {
	for range 8 {
		id := newResponseID()
		res, err := tx.exec(ctx, insertResponseQuery, id, campaignID, link, seq, formatTime(day), unit, group,
			answers, problems, complete, status, reason)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, err
		} else if n == 1 {
			return id, nil
		}
	}
	return 0, errors.New("no free response id after 8 random draws")
}

// A receipt repeats the member's answers and a correction request the
// answers it could not read, and both sit in the outbox under the member's
// id until sent and after. Their payloads are therefore sealed (AES-256-GCM
// under a key derived from the link key) when queued and opened when read
// with the key: a copy of the database alone shows that a member got a
// receipt, not what it said.

// sealedPrefix starts every sealed payload; JSON never does.
var sealedPrefix = []byte("phieu sealed v1\x00")

// payloadAEAD is AES-256-GCM under a key derived from the link key.
func payloadAEAD(linkKey []byte) (cipher.AEAD, error) {
	mac := hmac.New(sha256.New, linkKey)
	mac.Write([]byte("phieu payload seal v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts a payload under the link key, errNoLinkKey without one.
func seal(linkKey, payload []byte) ([]byte, error) {
	if len(linkKey) == 0 {
		return nil, errNoLinkKey
	}
	if len(payload) == 0 || bytes.HasPrefix(payload, sealedPrefix) {
		return payload, nil
	}
	gcm, err := payloadAEAD(linkKey)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), sealedPrefix...)
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	return gcm.Seal(out, nonce, payload, sealedPrefix), nil
}

// unseal opens a sealed payload and returns any other as it is. Without
// the key a sealed payload stays sealed: rendering it then fails loudly
// instead of sending a receipt with no answers.
func unseal(linkKey, payload []byte) ([]byte, error) {
	if !bytes.HasPrefix(payload, sealedPrefix) || len(linkKey) == 0 {
		return payload, nil
	}
	gcm, err := payloadAEAD(linkKey)
	if err != nil {
		return nil, err
	}
	body := payload[len(sealedPrefix):]
	if len(body) < gcm.NonceSize() {
		return nil, errors.New("sealed payload too short")
	}
	plain, err := gcm.Open(nil, body[:gcm.NonceSize()], body[gcm.NonceSize():], sealedPrefix)
	if err != nil {
		return nil, fmt.Errorf("sealed payload: %w (was the installation secret changed?)", err)
	}
	return plain, nil
}

// sealsPayload reports whether messages of the kind repeat answers.
func sealsPayload(k store.MessageKind) bool {
	return k == store.KindReceipt || k == store.KindCorrection
}

// sealOldPayloads seals the receipts and corrections queued before
// payloads were sealed.
func sealOldPayloads(ctx context.Context, tx *Tx, key []byte) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, payload FROM outbox
		WHERE kind IN ('receipt', 'correction') AND length(payload) > 0`)
	if err != nil {
		return err
	}
	sealed := map[int64][]byte{}
	for rows.Next() {
		var id int64
		var p []byte
		if err := rows.Scan(&id, &p); err != nil {
			rows.Close()
			return err
		}
		if !bytes.HasPrefix(p, sealedPrefix) {
			if sealed[id], err = seal(key, p); err != nil {
				rows.Close()
				return err
			}
		}
	}
	if err := closeRows(rows); err != nil {
		return err
	}
	for id, p := range sealed {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET payload = ? WHERE id = ?`, p, id); err != nil {
			return err
		}
	}
	return nil
}
