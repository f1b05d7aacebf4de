package store

import (
	"context"
	"time"
)

// Unit is one node of the administrative tree: the province's People's
// Committee, a department (sở), a division (phòng), a commune (xã)... The tree
// may be of any depth and is never assumed to have fixed levels (the district
// level disappeared in 07/2025).
type Unit struct {
	ID         int64
	Code       string // unique, as the province writes it
	Name       string
	ParentCode string // "" for a root
	Kind       string // free label: "sở", "phòng", "xã", "UBND tỉnh"...
	Head       Head   // who receives non-response digests for this unit

	ValidFrom Date // zero: always
	ValidTo   Date // zero: still valid

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Head is a unit's head (thủ trưởng): the person escalations go to.
type Head struct {
	Name    string
	Title   string
	Mailbox string
}

// IsZero reports whether no head is set.
func (h Head) IsZero() bool { return h == Head{} }

// Unit field names, used in validation errors and by import to name columns.
const (
	FieldUnitCode     = "unit_code"
	FieldUnitName     = "unit_name"
	FieldParentCode   = "parent_code"
	FieldUnitKind     = "unit_kind"
	FieldHeadName     = "head_name"
	FieldHeadTitle    = "head_title"
	FieldHeadMailbox  = "head_mailbox"
	FieldValidFrom    = "valid_from"
	FieldValidTo      = "valid_to"
	maxCodeLength     = 64
	maxNameLength     = 300
	maxFreeTextLength = 300
)

// Validate checks one unit on its own. Whether its parent exists and whether
// the tree has a cycle depends on the other units and is checked by import.
func (u *Unit) Validate() error {
	var v ValidationError
	checkCode(&v, FieldUnitCode, u.Code, true)
	checkFreeText(&v, FieldUnitName, u.Name, true, maxNameLength)
	if u.ParentCode != "" {
		checkCode(&v, FieldParentCode, u.ParentCode, false)
		if u.ParentCode == u.Code {
			v.add(FieldParentCode, "a unit cannot be its own parent unit")
		}
	}
	checkFreeText(&v, FieldUnitKind, u.Kind, false, maxFreeTextLength)
	checkFreeText(&v, FieldHeadName, u.Head.Name, false, maxNameLength)
	checkFreeText(&v, FieldHeadTitle, u.Head.Title, false, maxFreeTextLength)
	if u.Head.Mailbox != "" {
		if msg := CheckMailbox(u.Head.Mailbox); msg != "" {
			v.add(FieldHeadMailbox, "%q %s", u.Head.Mailbox, msg)
		}
	} else if u.Head.Name != "" {
		v.add(FieldHeadMailbox, "the head %s has no email address; escalations could not reach them", u.Head.Name)
	}
	if !u.ValidFrom.IsZero() && !u.ValidTo.IsZero() && u.ValidTo.Before(u.ValidFrom) {
		v.add(FieldValidTo, "ends (%s) before it starts (%s)", u.ValidTo, u.ValidFrom)
	}
	return v.err()
}

// ActiveOn reports whether the unit exists on day d.
func (u *Unit) ActiveOn(d Date) bool {
	if !u.ValidFrom.IsZero() && d.Before(u.ValidFrom) {
		return false
	}
	return u.ValidTo.IsZero() || !u.ValidTo.Before(d)
}

func checkCode(v *ValidationError, field, code string, required bool) {
	if code == "" {
		if required {
			v.add(field, "is required")
		}
		return
	}
	if msg := CheckText(code); msg != "" {
		v.add(field, "%s", msg)
		return
	}
	if utf8Len(code) > maxCodeLength {
		v.add(field, "is longer than %d characters", maxCodeLength)
	}
}

func checkFreeText(v *ValidationError, field, s string, required bool, max int) {
	if s == "" {
		if required {
			v.add(field, "is required")
		}
		return
	}
	if msg := CheckText(s); msg != "" {
		v.add(field, "%s", msg)
		return
	}
	if utf8Len(s) > max {
		v.add(field, "is longer than %d characters", max)
	}
}

// UnitFilter selects units. Zero fields match everything.
type UnitFilter struct {
	Code       string
	ParentCode string
	// Subtree, when set, selects the unit with this code and all its
	// descendants at any depth.
	Subtree string
}

// UnitService persists the unit tree.
type UnitService interface {
	// FindUnits returns matching units ordered by code.
	FindUnits(ctx context.Context, filter UnitFilter) ([]*Unit, error)
	// FindUnitByCode returns ENOTFOUND if no unit has the code.
	FindUnitByCode(ctx context.Context, code string) (*Unit, error)
	// ImportUnits validates the whole list against itself and the stored tree
	// and writes it in one transaction, or writes nothing and returns an
	// *ImportError listing every problem.
	ImportUnits(ctx context.Context, units []*Unit, opts ImportOptions) (*ImportSummary, error)
}
