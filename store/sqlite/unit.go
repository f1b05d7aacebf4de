package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/vn"
)

var _ store.UnitService = (*UnitService)(nil)

// UnitService stores the unit tree.
type UnitService struct {
	db *DB
}

// NewUnitService returns a UnitService on db.
func NewUnitService(db *DB) *UnitService { return &UnitService{db: db} }

// FindUnits returns matching units ordered by code.
func (s *UnitService) FindUnits(ctx context.Context, filter store.UnitFilter) ([]*store.Unit, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find units: %w", err)
	}
	defer tx.Rollback()
	units, err := findUnits(ctx, tx, filter)
	if err != nil {
		return nil, fmt.Errorf("find units: %w", err)
	}
	return units, nil
}

// FindUnitByCode returns the unit with the code, or ENOTFOUND.
func (s *UnitService) FindUnitByCode(ctx context.Context, code string) (*store.Unit, error) {
	tx, err := s.db.BeginTx(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("find unit: %w", err)
	}
	defer tx.Rollback()
	return findUnitByCode(ctx, tx, code)
}

// ImportUnits normalizes the units in place, checks them against each other
// and the stored tree, and upserts them by code in one transaction. Nothing
// is written if any problem is found, nor on a dry run.
//
// Missing counts stored units the list leaves out that have not ended (no
// valid_to, or one not yet past): a unit ended by an earlier prune is not
// missing again. With Prune, missing units without valid_to get yesterday's
// date (in Vietnam); units are never deleted, since old campaigns and
// respondents point at them.
func (s *UnitService) ImportUnits(ctx context.Context, units []*store.Unit, opts store.ImportOptions) (*store.ImportSummary, error) {
	for _, u := range units {
		if u != nil {
			normalizeUnit(u)
		}
	}
	tx, err := s.db.BeginTx(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("import units: %w", err)
	}
	defer tx.Rollback()
	sum, err := importUnits(ctx, tx, units, opts)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		return sum, nil // the deferred Rollback undoes everything
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("import units: commit: %w", err)
	}
	return sum, nil
}

const unitColumns = `u.id, u.code, u.name, coalesce(p.code, ''), u.kind, u.head_name, u.head_title, u.head_mailbox,
	u.valid_from, u.valid_to, u.created_at, u.updated_at`

// subtreeCTE defines subtree(id): the unit with the code given as its
// argument and every unit below it. UNION (not UNION ALL) stops at a node
// already seen, so even a corrupted tree cannot loop forever.
const subtreeCTE = `subtree(id) AS (
	SELECT id FROM units WHERE code = ?
	UNION
	SELECT c.id FROM units c JOIN subtree s ON c.parent_id = s.id
)`

func findUnits(ctx context.Context, tx *Tx, filter store.UnitFilter) ([]*store.Unit, error) {
	var (
		with  string
		where []string
		args  []any
	)
	if filter.Subtree != "" {
		with = "WITH RECURSIVE " + subtreeCTE + "\n"
		args = append(args, filter.Subtree)
		where = append(where, "u.id IN (SELECT id FROM subtree)")
	}
	if filter.Code != "" {
		where = append(where, "u.code = ?")
		args = append(args, filter.Code)
	}
	if filter.ParentCode != "" {
		where = append(where, "p.code = ?")
		args = append(args, filter.ParentCode)
	}
	q := with + `SELECT ` + unitColumns + ` FROM units u LEFT JOIN units p ON p.id = u.parent_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY u.code"
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var units []*store.Unit
	for rows.Next() {
		u, err := scanUnit(rows)
		if err != nil {
			return nil, err
		}
		units = append(units, u)
	}
	return units, rows.Err()
}

func findUnitByCode(ctx context.Context, tx *Tx, code string) (*store.Unit, error) {
	units, err := findUnits(ctx, tx, store.UnitFilter{Code: code})
	if err != nil {
		return nil, fmt.Errorf("find unit: %w", err)
	}
	if len(units) == 0 {
		return nil, store.Errorf(store.ENOTFOUND, "unit %s not found", code)
	}
	return units[0], nil
}

func scanUnit(rows *sql.Rows) (*store.Unit, error) {
	var (
		u                store.Unit
		from, to         sql.NullString
		created, updated string
		err              error
	)
	if err := rows.Scan(&u.ID, &u.Code, &u.Name, &u.ParentCode, &u.Kind, &u.Head.Name, &u.Head.Title, &u.Head.Mailbox,
		&from, &to, &created, &updated); err != nil {
		return nil, err
	}
	if u.ValidFrom, err = parseDate(from); err != nil {
		return nil, fmt.Errorf("unit %s: %w", u.Code, err)
	}
	if u.ValidTo, err = parseDate(to); err != nil {
		return nil, fmt.Errorf("unit %s: %w", u.Code, err)
	}
	if u.CreatedAt, err = parseTime(created); err != nil {
		return nil, fmt.Errorf("unit %s: %w", u.Code, err)
	}
	if u.UpdatedAt, err = parseTime(updated); err != nil {
		return nil, fmt.Errorf("unit %s: %w", u.Code, err)
	}
	return &u, nil
}

// normalizeUnit cleans white space, composes Unicode (NFC) and lower-cases
// the head's mailbox.
func normalizeUnit(u *store.Unit) {
	clean := func(s string) string { return vn.NFC(store.CleanText(s)) }
	u.Code = clean(u.Code)
	u.Name = clean(u.Name)
	u.ParentCode = clean(u.ParentCode)
	u.Kind = clean(u.Kind)
	u.Head.Name = clean(u.Head.Name)
	u.Head.Title = clean(u.Head.Title)
	u.Head.Mailbox = store.NormalizeMailbox(u.Head.Mailbox)
}

// sameUnit reports whether importing a over the stored b changes nothing.
func sameUnit(a, b *store.Unit) bool {
	return a.Code == b.Code && a.Name == b.Name && a.ParentCode == b.ParentCode && a.Kind == b.Kind &&
		a.Head == b.Head && a.ValidFrom == b.ValidFrom && a.ValidTo == b.ValidTo
}

// today returns the civil date of the transaction's clock in Vietnam.
func (tx *Tx) today() store.Date { return store.DateOf(tx.now.In(vnLocation())) }

func importUnits(ctx context.Context, tx *Tx, units []*store.Unit, opts store.ImportOptions) (*store.ImportSummary, error) {
	var ie store.ImportError
	if len(units) == 0 && opts.Prune {
		ie.Add(-1, "", "the list is empty: pruning would end every stored unit")
		return nil, ie.Err()
	}

	// Each row on its own, and codes repeated within the list.
	first := make(map[string]int, len(units)) // code → index of its first row
	for i, u := range units {
		if u == nil {
			ie.Add(i, store.FieldUnitCode, "empty row")
			continue
		}
		ie.AddValidation(i, u.Validate())
		if u.Code == "" {
			continue
		}
		if j, ok := first[u.Code]; ok {
			ie.AddRelated(i, j, store.FieldUnitCode, "unit code %s appears twice", u.Code)
			continue
		}
		first[u.Code] = i
	}

	stored, err := loadUnits(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("import units: %w", err)
	}

	// The tree as it will be: stored parents, overridden by the file's.
	parent := make(map[string]string, len(stored)+len(first))
	for code, u := range stored {
		parent[code] = u.ParentCode
	}
	for code, i := range first {
		p := units[i].ParentCode
		if p == code {
			p = "" // Validate reported it
		}
		parent[code] = p
	}
	for i, u := range units {
		if u == nil || first[u.Code] != i || u.ParentCode == "" {
			continue
		}
		if _, ok := parent[u.ParentCode]; !ok {
			ie.Add(i, store.FieldParentCode, "parent unit %s is neither in the file nor among the stored units", u.ParentCode)
		}
	}
	for _, cycle := range findCycles(units, first, parent) {
		for k, code := range cycle {
			i, inFile := first[code]
			if !inFile {
				continue // a stored unit: no row to point at
			}
			path := append(append(append([]string{}, cycle[k:]...), cycle[:k]...), code)
			ie.Add(i, store.FieldParentCode, "the parent units form a cycle: %s", strings.Join(path, " → "))
		}
	}
	if err := ie.Err(); err != nil {
		sort.SliceStable(ie.Issues, func(a, b int) bool { return ie.Issues[a].Index < ie.Issues[b].Index })
		return nil, err
	}

	// Write parents before children so each parent's id is known.
	ids := make(map[string]int64, len(parent))
	for code, u := range stored {
		ids[code] = u.ID
	}
	order := make([]int, 0, len(first))
	depth := make(map[string]int, len(parent))
	for _, i := range first {
		order = append(order, i)
	}
	sort.Slice(order, func(a, b int) bool {
		da, db := treeDepth(units[order[a]].Code, parent, depth), treeDepth(units[order[b]].Code, parent, depth)
		if da != db {
			return da < db
		}
		return order[a] < order[b]
	})

	sum := &store.ImportSummary{}
	now := formatTime(tx.now)
	for _, i := range order {
		u := units[i]
		var parentID any
		if u.ParentCode != "" {
			parentID = ids[u.ParentCode]
		}
		old, ok := stored[u.Code]
		switch {
		case !ok:
			res, err := tx.ExecContext(ctx, `INSERT INTO units (code, name, parent_id, kind, head_name, head_title, head_mailbox,
				valid_from, valid_to, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				u.Code, u.Name, parentID, u.Kind, u.Head.Name, u.Head.Title, u.Head.Mailbox,
				nullDate(u.ValidFrom), nullDate(u.ValidTo), now, now)
			if err != nil {
				return nil, fmt.Errorf("import units: insert %s: %w", u.Code, err)
			}
			if ids[u.Code], err = res.LastInsertId(); err != nil {
				return nil, fmt.Errorf("import units: insert %s: %w", u.Code, err)
			}
			sum.Added++
		case sameUnit(u, old):
			sum.Unchanged++
		default:
			if _, err := tx.ExecContext(ctx, `UPDATE units SET name = ?, parent_id = ?, kind = ?, head_name = ?, head_title = ?,
				head_mailbox = ?, valid_from = ?, valid_to = ?, updated_at = ? WHERE id = ?`,
				u.Name, parentID, u.Kind, u.Head.Name, u.Head.Title, u.Head.Mailbox,
				nullDate(u.ValidFrom), nullDate(u.ValidTo), now, old.ID); err != nil {
				return nil, fmt.Errorf("import units: update %s: %w", u.Code, err)
			}
			sum.Updated++
		}
	}

	// Stored units the file leaves out. Units are never deleted: old
	// campaigns point at them. Units that already ended are not "missing".
	today := tx.today()
	yesterday := today.AddDays(-1)
	for code, u := range stored {
		if _, ok := first[code]; ok || (!u.ValidTo.IsZero() && u.ValidTo.Before(today)) {
			continue
		}
		sum.Missing++
		if opts.Prune && u.ValidTo.IsZero() {
			if _, err := tx.ExecContext(ctx, `UPDATE units SET valid_to = ?, updated_at = ? WHERE id = ?`,
				yesterday.ISO(), now, u.ID); err != nil {
				return nil, fmt.Errorf("import units: end %s: %w", code, err)
			}
			sum.Deactivated++
		}
	}
	return sum, nil
}

// loadUnits returns every stored unit by code.
func loadUnits(ctx context.Context, tx *Tx) (map[string]*store.Unit, error) {
	units, err := findUnits(ctx, tx, store.UnitFilter{})
	if err != nil {
		return nil, err
	}
	m := make(map[string]*store.Unit, len(units))
	for _, u := range units {
		m[u.Code] = u
	}
	return m, nil
}

// findCycles returns each cycle of the parent relation that goes through a
// unit of the file, as the list of codes from child to parent. Every node has
// at most one parent, so one walk up from each node finds them all in linear
// time. Parents missing from the map end a walk (they were reported).
func findCycles(units []*store.Unit, first map[string]int, parent map[string]string) [][]string {
	const (
		onPath = 1
		done   = 2
	)
	state := make(map[string]int8, len(parent))
	var cycles [][]string
	for i, u := range units {
		if u == nil || first[u.Code] != i {
			continue
		}
		var path []string
		pos := map[string]int{}
		c := u.Code
		for c != "" && state[c] == 0 {
			state[c] = onPath
			pos[c] = len(path)
			path = append(path, c)
			next, known := parent[c]
			if _, ok := parent[next]; !known || !ok {
				next = ""
			}
			c = next
		}
		if c != "" && state[c] == onPath {
			cycles = append(cycles, path[pos[c]:])
		}
		for _, p := range path {
			state[p] = done
		}
	}
	return cycles
}

// treeDepth returns how many ancestors code has; the tree has no cycle.
func treeDepth(code string, parent map[string]string, memo map[string]int) int {
	if d, ok := memo[code]; ok {
		return d
	}
	d := 0
	if p := parent[code]; p != "" {
		d = treeDepth(p, parent, memo) + 1
	}
	memo[code] = d
	return d
}
