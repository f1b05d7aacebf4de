package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/vn"
)

var _ store.RespondentService = (*RespondentService)(nil)

// RespondentService stores respondents.
type RespondentService struct {
	db *DB
}

// NewRespondentService returns a RespondentService on db.
func NewRespondentService(db *DB) *RespondentService { return &RespondentService{db: db} }

// FindRespondents returns matching respondents in Vietnamese name order.
func (s *RespondentService) FindRespondents(ctx context.Context, filter store.RespondentFilter) ([]*store.Respondent, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find respondents: %w", err)
	}
	defer tx.Rollback()
	return findRespondents(ctx, tx, filter)
}

// FindRespondentByID returns the respondent, active or not, or ENOTFOUND.
func (s *RespondentService) FindRespondentByID(ctx context.Context, id int64) (*store.Respondent, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find respondent: %w", err)
	}
	defer tx.Rollback()
	return findRespondentByID(ctx, tx, id)
}

// ImportRespondents normalizes the respondents in place, checks them against
// each other and the store, and writes them in one transaction; nothing is
// written if any problem is found, nor on a dry run. See importRespondents for
// how rows are matched to stored respondents.
func (s *RespondentService) ImportRespondents(ctx context.Context, rs []*store.Respondent, opts store.ImportOptions) (*store.ImportSummary, error) {
	// Work that needs no database happens before taking the write lock.
	var ie store.ImportError
	if len(rs) == 0 && opts.Prune {
		ie.Add(-1, "", "the list is empty: pruning would remove every stored respondent")
		return nil, ie.Err()
	}
	dup := checkRespondentRows(rs, &ie)

	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("import respondents: %w", err)
	}
	defer tx.Rollback()
	sum, err := importRespondents(ctx, tx, rs, dup, &ie, opts)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		return sum, nil // the deferred Rollback undoes everything
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("import respondents: commit: %w", err)
	}
	return sum, nil
}

// respondentColumns are scanned by scanRespondent. Aliases come back as one
// space-separated string from a correlated subquery on the alias table's
// primary key: one query for any number of respondents. (Mailboxes cannot
// contain spaces.)
const respondentColumns = `r.id, coalesce(r.external_id, ''), r.full_name, r.family_name, r.middle_name, r.given_name,
	r.salutation, r.title, u.code, r.group_code, r.mailbox,
	coalesce((SELECT group_concat(a.mailbox, ' ' ORDER BY a.position) FROM respondent_aliases a WHERE a.respondent_id = r.id), ''),
	r.active, r.created_at, r.updated_at`

func findRespondents(ctx context.Context, tx *Tx, f store.RespondentFilter) ([]*store.Respondent, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, store.Errorf(store.EINVALID, "%q is not a member status", f.Status)
	}
	if f.Status != "" && f.Campaign == "" {
		return nil, store.Errorf(store.EINVALID, "a member status filter needs a campaign")
	}
	var (
		with  string
		where []string
		args  []any
	)
	if f.Subtree != "" {
		with = "WITH RECURSIVE " + subtreeCTE + "\n"
		args = append(args, f.Subtree)
		where = append(where, "r.unit_id IN (SELECT id FROM subtree)")
	}
	if f.ID != 0 {
		where = append(where, "r.id = ?")
		args = append(args, f.ID)
	}
	if f.Mailbox != "" {
		m := store.NormalizeMailbox(f.Mailbox)
		where = append(where, "(r.mailbox = ? OR r.id IN (SELECT respondent_id FROM respondent_aliases WHERE mailbox = ?))")
		args = append(args, m, m)
	}
	if f.Group != "" {
		where = append(where, "r.group_code = ?")
		args = append(args, f.Group)
	}
	if f.Campaign != "" {
		q := "r.id IN (SELECT m.respondent_id FROM campaign_members m JOIN campaigns c ON c.id = m.campaign_id WHERE c.code = ?"
		args = append(args, f.Campaign)
		if f.Status != "" {
			q += " AND m.status = ?"
			args = append(args, string(f.Status))
		}
		where = append(where, q+")")
	}
	if !f.IncludeInactive {
		where = append(where, "r.active = 1")
	}
	q := with + `SELECT ` + respondentColumns + ` FROM respondents r JOIN units u ON u.id = r.unit_id`
	if len(where) > 0 {
		q += "\nWHERE " + strings.Join(where, " AND ")
	}
	q += "\nORDER BY r.given_key, r.family_key, r.middle_key, r.id"
	if f.Limit > 0 || f.Offset > 0 {
		limit := -1
		if f.Limit > 0 {
			limit = f.Limit
		}
		q += " LIMIT ? OFFSET ?"
		args = append(args, limit, max(f.Offset, 0))
	}

	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find respondents: %w", err)
	}
	defer rows.Close()
	var out []*store.Respondent
	for rows.Next() {
		r, err := scanRespondent(rows)
		if err != nil {
			return nil, fmt.Errorf("find respondents: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find respondents: %w", err)
	}
	return out, nil
}

func findRespondentByID(ctx context.Context, tx *Tx, id int64) (*store.Respondent, error) {
	rs, err := findRespondents(ctx, tx, store.RespondentFilter{ID: id, IncludeInactive: true})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, store.Errorf(store.ENOTFOUND, "respondent %d not found", id)
	}
	return rs[0], nil
}

func scanRespondent(rows *sql.Rows) (*store.Respondent, error) {
	var (
		r                store.Respondent
		salutation       string
		aliases          string
		created, updated string
		err              error
	)
	if err := rows.Scan(&r.ID, &r.ExternalID, &r.FullName, &r.FamilyName, &r.MiddleName, &r.GivenName,
		&salutation, &r.Title, &r.UnitCode, &r.Group, &r.Mailbox, &aliases, &r.Active, &created, &updated); err != nil {
		return nil, err
	}
	r.Salutation = store.Salutation(salutation)
	if aliases != "" {
		r.Aliases = strings.Split(aliases, " ")
	}
	if r.CreatedAt, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("respondent %d: %w", r.ID, err)
	}
	if r.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, fmt.Errorf("respondent %d: %w", r.ID, err)
	}
	return &r, nil
}

// normalizeRespondent composes Unicode (NFC), then applies the domain's
// Normalize.
func normalizeRespondent(r *store.Respondent) {
	r.ExternalID = vn.NFC(r.ExternalID)
	r.FullName = vn.NFC(r.FullName)
	r.Title = vn.NFC(r.Title)
	r.UnitCode = vn.NFC(r.UnitCode)
	r.Group = vn.NFC(r.Group)
	r.Mailbox = vn.NFC(r.Mailbox)
	for i, a := range r.Aliases {
		r.Aliases[i] = vn.NFC(a)
	}
	r.Normalize()
}

// checkRespondentRows normalizes and validates each row on its own and finds
// mailboxes and external ids repeated within the list. It needs no database.
// dup[i] is true when row i repeats an earlier row.
func checkRespondentRows(rs []*store.Respondent, ie *store.ImportError) (dup []bool) {
	// Rows are independent: normalize and validate them on every CPU.
	invalid := make([]error, len(rs))
	workers := min(runtime.GOMAXPROCS(0), 1+len(rs)/4096)
	chunk := (len(rs) + workers - 1) / max(workers, 1)
	var wg sync.WaitGroup
	for lo := 0; lo < len(rs); lo += chunk {
		hi := min(lo+chunk, len(rs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				if r := rs[i]; r != nil {
					normalizeRespondent(r)
					invalid[i] = r.Validate()
				}
			}
		}()
	}
	wg.Wait()

	dup = make([]bool, len(rs))
	firstMailbox := make(map[string]int, len(rs))
	firstExternal := make(map[string]int, len(rs))
	for i, r := range rs {
		if r == nil {
			ie.Add(i, store.FieldFullName, "empty row")
			continue
		}
		ie.AddValidation(i, invalid[i])
		if r.ExternalID != "" {
			if j, ok := firstExternal[r.ExternalID]; ok {
				ie.AddRelated(i, j, store.FieldExternalID, "external id %s appears twice", r.ExternalID)
				dup[i] = true
			} else {
				firstExternal[r.ExternalID] = i
			}
		}
		for k, m := range r.Mailboxes() {
			if m == "" {
				continue
			}
			if j, ok := firstMailbox[m]; ok {
				ie.AddRelated(i, j, mailboxField(k), "mailbox %s appears twice", m)
				dup[i] = true
			} else {
				firstMailbox[m] = i
			}
		}
	}
	return dup
}

// mailboxField names the column of the k-th of Respondent.Mailboxes().
func mailboxField(k int) string {
	if k == 0 {
		return store.FieldMailbox
	}
	return store.FieldAliases
}

// storedRespondent is what import compares a row against. Name parts and
// collation keys are derived from fullName and need not be loaded.
type storedRespondent struct {
	id         int64
	externalID string
	fullName   string
	salutation store.Salutation
	title      string
	unitID     int64
	group      string
	mailbox    string
	aliases    []string
	active     bool
	matched    bool
}

// who names a stored respondent for an operator.
func (s *storedRespondent) who() string {
	if s.externalID != "" {
		return fmt.Sprintf("%s (mã %s)", s.fullName, s.externalID)
	}
	return fmt.Sprintf("%s (%s, no mã cán bộ)", s.fullName, s.mailbox)
}

// storedRespondents indexes every stored respondent for import.
type storedRespondents struct {
	all       []storedRespondent
	byExt     map[string]*storedRespondent
	byMailbox map[string]*storedRespondent // primaries and aliases
}

func loadStoredRespondents(ctx context.Context, tx *Tx) (*storedRespondents, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM respondents`).Scan(&n); err != nil {
		return nil, err
	}
	s := &storedRespondents{all: make([]storedRespondent, 0, n)}
	rows, err := tx.QueryContext(ctx, `SELECT id, coalesce(external_id, ''), full_name, salutation, title, unit_id, group_code, mailbox, active
		FROM respondents ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r storedRespondent
		var salutation string
		if err := rows.Scan(&r.id, &r.externalID, &r.fullName, &salutation, &r.title, &r.unitID, &r.group, &r.mailbox, &r.active); err != nil {
			return nil, err
		}
		r.salutation = store.Salutation(salutation)
		s.all = append(s.all, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()

	s.byExt = make(map[string]*storedRespondent, len(s.all))
	s.byMailbox = make(map[string]*storedRespondent, len(s.all))
	byID := make(map[int64]*storedRespondent, len(s.all))
	for i := range s.all {
		r := &s.all[i]
		byID[r.id] = r
		s.byMailbox[r.mailbox] = r
		if r.externalID != "" {
			s.byExt[r.externalID] = r
		}
	}
	rows, err = tx.QueryContext(ctx, `SELECT respondent_id, mailbox FROM respondent_aliases ORDER BY respondent_id, position`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var m string
		if err := rows.Scan(&id, &m); err != nil {
			return nil, err
		}
		if r := byID[id]; r != nil {
			r.aliases = append(r.aliases, m)
			s.byMailbox[m] = r
		}
	}
	return s, rows.Err()
}

// unitIndex resolves what a roster writes in its unit column.
type unitIndex struct {
	byCode map[string]int64
	byName map[string][]string // name → codes
}

func loadUnitIndex(ctx context.Context, tx *Tx) (*unitIndex, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, code, name FROM units ORDER BY code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	idx := &unitIndex{byCode: map[string]int64{}, byName: map[string][]string{}}
	for rows.Next() {
		var id int64
		var code, name string
		if err := rows.Scan(&id, &code, &name); err != nil {
			return nil, err
		}
		idx.byCode[code] = id
		idx.byName[name] = append(idx.byName[name], code)
	}
	return idx, rows.Err()
}

// resolve returns the unit id and code for a code, or for an exact name
// shared by no other unit. A code wins over a name.
func (idx *unitIndex) resolve(s string) (id int64, code, problem string) {
	if id, ok := idx.byCode[s]; ok {
		return id, s, ""
	}
	switch codes := idx.byName[s]; len(codes) {
	case 0:
		return 0, "", fmt.Sprintf("%q is neither the code nor the name of a stored unit", s)
	case 1:
		return idx.byCode[codes[0]], codes[0], ""
	default:
		return 0, "", fmt.Sprintf("%q is the name of %d units (%s); write the unit code instead", s, len(codes), strings.Join(codes, ", "))
	}
}

// importRespondents matches each row to a stored respondent, by external id
// if the row has one that is stored, else by any of its mailboxes (primary
// or alias, against stored primaries and aliases). Every mailbox of a row
// must then be free or belong to the respondent it matched: a mailbox is
// never taken from one person for another. A row without an external id
// keeps the stored one. Rows that match nobody are added. All the stored
// data import needs is loaded once into maps; rows are written with prepared
// statements in the caller's transaction.
//
// Added+Updated+Unchanged counts every row. Reactivated counts rows among
// Updated that brought back an inactive respondent. Missing counts active
// stored respondents the list leaves out; with Prune those who were ever a
// campaign member are deactivated, the others deleted.
func importRespondents(ctx context.Context, tx *Tx, rs []*store.Respondent, dup []bool, ie *store.ImportError, opts store.ImportOptions) (*store.ImportSummary, error) {
	units, err := loadUnitIndex(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("import respondents: load units: %w", err)
	}
	stored, err := loadStoredRespondents(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("import respondents: load respondents: %w", err)
	}

	unitIDs := make([]int64, len(rs))
	matches := make([]*storedRespondent, len(rs))
	matchedBy := make(map[*storedRespondent]int)
	for i, r := range rs {
		if r == nil {
			continue
		}
		if r.UnitCode != "" {
			id, code, problem := units.resolve(r.UnitCode)
			if problem != "" {
				ie.Add(i, store.FieldUnit, "%s", problem)
			} else {
				r.UnitCode = code
			}
			unitIDs[i] = id
		}

		var m *storedRespondent
		field := store.FieldMailbox
		if r.ExternalID != "" {
			m = stored.byExt[r.ExternalID]
			field = store.FieldExternalID
		}
		if m == nil {
			field = store.FieldMailbox
			for _, mb := range r.Mailboxes() {
				if o := stored.byMailbox[mb]; o != nil {
					m = o
					break
				}
			}
			if m != nil && r.ExternalID != "" && m.externalID != "" {
				m = nil // another person's mailbox: reported below
			}
		}
		for k, mb := range r.Mailboxes() {
			if o := stored.byMailbox[mb]; o != nil && o != m {
				ie.Add(i, mailboxField(k), "%s already belongs to %s", mb, o.who())
			}
		}
		if m == nil || dup[i] {
			matches[i] = m
			continue
		}
		if j, ok := matchedBy[m]; ok {
			ie.AddRelated(i, j, field, "is the same person as another row: %s", m.who())
			continue
		}
		matchedBy[m] = i
		matches[i] = m
	}
	if err := ie.Err(); err != nil {
		sort.SliceStable(ie.Issues, func(a, b int) bool { return ie.Issues[a].Index < ie.Issues[b].Index })
		return nil, err
	}

	w, err := prepareRespondentWriter(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("import respondents: %w", err)
	}
	defer w.close()

	sum := &store.ImportSummary{}
	for i, r := range rs {
		m := matches[i]
		if m == nil {
			if err := w.insert(ctx, r, unitIDs[i]); err != nil {
				return nil, fmt.Errorf("import respondents: row %d (%s): %w", i, r.Mailbox, err)
			}
			sum.Added++
			continue
		}
		m.matched = true
		if r.ExternalID == "" {
			r.ExternalID = m.externalID
		}
		aliasesChanged := !slices.Equal(r.Aliases, m.aliases)
		if r.ExternalID == m.externalID && r.FullName == m.fullName && r.Salutation == m.salutation && r.Title == m.title &&
			unitIDs[i] == m.unitID && r.Group == m.group && r.Mailbox == m.mailbox && !aliasesChanged && m.active {
			sum.Unchanged++
			continue
		}
		if err := w.update(ctx, m.id, r, unitIDs[i], aliasesChanged); err != nil {
			return nil, fmt.Errorf("import respondents: row %d (%s): %w", i, r.Mailbox, err)
		}
		sum.Updated++
		if !m.active {
			sum.Reactivated++
		}
	}

	var members map[int64]bool
	for i := range stored.all {
		s := &stored.all[i]
		if s.matched || !s.active {
			continue
		}
		sum.Missing++
		if !opts.Prune {
			continue
		}
		if members == nil {
			if members, err = loadMemberIDs(ctx, tx); err != nil {
				return nil, fmt.Errorf("import respondents: %w", err)
			}
		}
		if members[s.id] {
			if _, err := w.deactivate.ExecContext(ctx, formatTime(tx.now), s.id); err != nil {
				return nil, fmt.Errorf("import respondents: deactivate %s: %w", s.who(), err)
			}
			sum.Deactivated++
		} else {
			if _, err := w.delete.ExecContext(ctx, s.id); err != nil {
				return nil, fmt.Errorf("import respondents: delete %s: %w", s.who(), err)
			}
			sum.Deleted++
		}
	}
	return sum, nil
}

// loadMemberIDs returns every respondent who was ever a campaign member.
func loadMemberIDs(ctx context.Context, tx *Tx) (map[int64]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT respondent_id FROM campaign_members`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids[id] = true
	}
	return ids, rows.Err()
}

// respondentWriter holds the prepared statements of an import.
type respondentWriter struct {
	now                        string
	keys                       map[string][]byte // vn.Key of name parts: they repeat a lot
	insertStmt, updateStmt     *sql.Stmt
	deleteAliases, insertAlias *sql.Stmt
	deactivate, delete         *sql.Stmt
	stmts                      []*sql.Stmt
}

func prepareRespondentWriter(ctx context.Context, tx *Tx) (*respondentWriter, error) {
	w := &respondentWriter{now: formatTime(tx.now), keys: map[string][]byte{}}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.insertStmt, `INSERT INTO respondents (external_id, full_name, family_name, middle_name, given_name,
			given_key, family_key, middle_key, salutation, title, unit_id, group_code, mailbox, active, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`},
		{&w.updateStmt, `UPDATE respondents SET external_id = ?, full_name = ?, family_name = ?, middle_name = ?, given_name = ?,
			given_key = ?, family_key = ?, middle_key = ?, salutation = ?, title = ?, unit_id = ?, group_code = ?, mailbox = ?,
			active = 1, updated_at = ? WHERE id = ?`},
		{&w.deleteAliases, `DELETE FROM respondent_aliases WHERE respondent_id = ?`},
		{&w.insertAlias, `INSERT INTO respondent_aliases (respondent_id, position, mailbox) VALUES (?, ?, ?)`},
		{&w.deactivate, `UPDATE respondents SET active = 0, updated_at = ? WHERE id = ?`},
		{&w.delete, `DELETE FROM respondents WHERE id = ?`},
	} {
		stmt, err := tx.PrepareContext(ctx, p.sql)
		if err != nil {
			w.close()
			return nil, err
		}
		*p.stmt = stmt
		w.stmts = append(w.stmts, stmt)
	}
	return w, nil
}

func (w *respondentWriter) close() {
	for _, s := range w.stmts {
		s.Close()
	}
}

// nameArgs returns the stored name columns: full, family, middle, given and
// the collation keys of given, family and middle.
func (w *respondentWriter) nameArgs(r *store.Respondent) [7]any {
	return [7]any{r.FullName, r.FamilyName, r.MiddleName, r.GivenName,
		w.key(r.GivenName), w.key(r.FamilyName), w.key(r.MiddleName)}
}

// key returns vn.Key(s), computing it once per import. A province has a few
// hundred distinct given and family names among a hundred thousand people.
func (w *respondentWriter) key(s string) []byte {
	k, ok := w.keys[s]
	if !ok {
		k = vn.Key(s)
		w.keys[s] = k
	}
	return k
}

func (w *respondentWriter) insert(ctx context.Context, r *store.Respondent, unitID int64) error {
	n := w.nameArgs(r)
	res, err := w.insertStmt.ExecContext(ctx, nullString(r.ExternalID), n[0], n[1], n[2], n[3], n[4], n[5], n[6],
		string(r.Salutation), r.Title, unitID, r.Group, r.Mailbox, w.now, w.now)
	if err != nil {
		return err
	}
	if len(r.Aliases) == 0 {
		return nil
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	return w.insertAliases(ctx, id, r.Aliases)
}

func (w *respondentWriter) update(ctx context.Context, id int64, r *store.Respondent, unitID int64, aliasesChanged bool) error {
	n := w.nameArgs(r)
	if aliasesChanged {
		// Before the primary changes: a primary may become an alias and
		// the reverse within one respondent.
		if _, err := w.deleteAliases.ExecContext(ctx, id); err != nil {
			return err
		}
	}
	if _, err := w.updateStmt.ExecContext(ctx, nullString(r.ExternalID), n[0], n[1], n[2], n[3], n[4], n[5], n[6],
		string(r.Salutation), r.Title, unitID, r.Group, r.Mailbox, w.now, id); err != nil {
		return err
	}
	if aliasesChanged {
		return w.insertAliases(ctx, id, r.Aliases)
	}
	return nil
}

func (w *respondentWriter) insertAliases(ctx context.Context, id int64, aliases []string) error {
	for k, a := range aliases {
		if _, err := w.insertAlias.ExecContext(ctx, id, k, a); err != nil {
			return err
		}
	}
	return nil
}
