package store

import (
	"context"
	"strings"
	"time"
)

// Salutation is how a respondent is addressed in Vietnamese correspondence:
// "Kính gửi: Ông Nguyễn Văn An", "Bà ...", "đồng chí ...".
type Salutation string

const (
	SalutationUnknown Salutation = ""
	SalutationOng     Salutation = "Ông"
	SalutationBa      Salutation = "Bà"
	SalutationDongChi Salutation = "đồng chí"
)

// ParseSalutation reads what roster files write in a "Giới tính" or "Danh
// xưng" column: Nam/Nữ, Ông/Bà, Đồng chí, M/F, male/female (any case, with or
// without diacritics). ok is false for anything else.
func ParseSalutation(s string) (Salutation, bool) {
	switch strings.ToLower(CleanText(s)) {
	case "":
		return SalutationUnknown, true
	case "nam", "ông", "ong", "m", "male", "mr", "mr.":
		return SalutationOng, true
	case "nữ", "nu", "bà", "ba", "f", "female", "mrs", "mrs.", "ms", "ms.":
		return SalutationBa, true
	case "đồng chí", "dong chi", "đ/c", "d/c", "đc":
		return SalutationDongChi, true
	}
	return SalutationUnknown, false
}

// Respondent is one person phieu may survey.
type Respondent struct {
	ID         int64
	ExternalID string // "Mã cán bộ" from the source file, if any

	FullName   string
	FamilyName string // họ
	MiddleName string // tên đệm
	GivenName  string // tên
	Salutation Salutation
	Title      string // chức vụ

	// UnitCode is the unit the respondent belongs to. Import also accepts the
	// unit's exact name here and resolves it to the code.
	UnitCode string
	Group    string // group code, free text from the file (e.g. "HDND", "LDS")

	Mailbox string   // primary, normalized
	Aliases []string // other mailboxes the respondent may answer from

	// Active is false for people missing from the latest roster who already
	// took part in a campaign: they are kept for the record, never mailed.
	Active bool

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Respondent field names, used in validation errors and by import.
const (
	FieldExternalID = "external_id"
	FieldFullName   = "full_name"
	FieldSalutation = "salutation"
	FieldTitle      = "title"
	FieldUnit       = "unit"
	FieldGroup      = "group"
	FieldMailbox    = "mailbox"
	FieldAliases    = "aliases"
)

// Normalize cleans white space, splits the name, lower-cases mailboxes and
// drops aliases that repeat the primary mailbox. Import calls it before
// Validate; so does every store write.
func (r *Respondent) Normalize() {
	r.ExternalID = CleanText(r.ExternalID)
	r.FullName = CleanText(r.FullName)
	r.FamilyName, r.MiddleName, r.GivenName = SplitName(r.FullName)
	r.Title = CleanText(r.Title)
	r.UnitCode = CleanText(r.UnitCode)
	r.Group = CleanText(r.Group)
	r.Mailbox = NormalizeMailbox(r.Mailbox)
	seen := map[string]bool{r.Mailbox: true}
	aliases := r.Aliases[:0]
	for _, a := range r.Aliases {
		a = NormalizeMailbox(a)
		if a == "" || seen[a] {
			continue
		}
		seen[a] = true
		aliases = append(aliases, a)
	}
	r.Aliases = aliases
}

// Validate checks one respondent on its own. Unit existence and duplicate
// mailboxes across respondents are checked by import and the store.
func (r *Respondent) Validate() error {
	var v ValidationError
	checkCode(&v, FieldExternalID, r.ExternalID, false)
	checkFreeText(&v, FieldFullName, r.FullName, true, maxNameLength)
	if r.FullName != "" && CheckText(r.FullName) == "" && strings.ContainsAny(r.FullName, "@<>\"") {
		v.add(FieldFullName, "%q looks like an address, not a name", r.FullName)
	}
	switch r.Salutation {
	case SalutationUnknown, SalutationOng, SalutationBa, SalutationDongChi:
	default:
		v.add(FieldSalutation, "%q is not Ông, Bà or đồng chí", string(r.Salutation))
	}
	checkFreeText(&v, FieldTitle, r.Title, false, maxFreeTextLength)
	checkCode(&v, FieldUnit, r.UnitCode, true)
	checkCode(&v, FieldGroup, r.Group, true)
	if msg := CheckMailbox(r.Mailbox); msg != "" {
		if r.Mailbox == "" {
			v.add(FieldMailbox, "is required")
		} else {
			v.add(FieldMailbox, "%q %s", r.Mailbox, msg)
		}
	}
	for _, a := range r.Aliases {
		if msg := CheckMailbox(a); msg != "" {
			v.add(FieldAliases, "%q %s", a, msg)
		}
	}
	return v.err()
}

// Mailboxes returns the primary mailbox followed by the aliases.
func (r *Respondent) Mailboxes() []string {
	return append([]string{r.Mailbox}, r.Aliases...)
}

// RespondentFilter selects respondents. Zero fields match everything.
type RespondentFilter struct {
	ID       int64
	Mailbox  string // primary or alias
	Group    string
	Subtree  string // unit code: that unit and all units below it
	Campaign string // campaign code: members only
	Status   MemberStatus
	// IncludeInactive also returns respondents marked inactive.
	IncludeInactive bool

	Offset, Limit int
}

// RespondentService persists respondents.
type RespondentService interface {
	// FindRespondents returns matches in Vietnamese name order: by tên, then
	// họ, then tên đệm, with Vietnamese collation ("Anh" < "Ánh" < "Bảo",
	// "Dũng" < "Đức").
	FindRespondents(ctx context.Context, filter RespondentFilter) ([]*Respondent, error)
	// FindRespondentByID returns ENOTFOUND if there is no such respondent.
	FindRespondentByID(ctx context.Context, id int64) (*Respondent, error)
	// ImportRespondents validates the list against itself and the store,
	// matches each row to a stored respondent (by external id, else by
	// mailbox) and writes adds and updates in one transaction, or writes
	// nothing and returns an *ImportError listing every problem.
	ImportRespondents(ctx context.Context, respondents []*Respondent, opts ImportOptions) (*ImportSummary, error)
}
