package roster

import (
	"regexp"
	"strings"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/vn"
)

// Fields only the importer knows: they are combined into store fields.
const (
	fieldIgnore     = "-"           // an ordinal column (STT): recognized, not read
	fieldFamilyPart = "family_part" // "Họ và tên đệm" when the name is split in two
	fieldGivenPart  = "given_part"  // "Tên"
	fieldGender     = "gender"      // "Giới tính": becomes the salutation
	fieldUnitName   = "unit_name_ref"
)

// headerNames lists, per roster kind, the headers Vietnamese offices write
// (and English ones) for each field, as vn.Fold would fold them.
var headerNames = map[Kind]map[string][]string{
	Units: {
		store.FieldUnitCode:    {"ma don vi", "ma dv", "ma", "unit code", "code"},
		store.FieldUnitName:    {"ten don vi", "don vi", "ten", "ten co quan", "co quan", "unit name", "unit", "name"},
		store.FieldParentCode:  {"don vi cap tren", "ma don vi cap tren", "ma cap tren", "cap tren", "truc thuoc", "don vi truc thuoc", "parent", "parent code", "parent unit"},
		store.FieldUnitKind:    {"loai don vi", "loai", "cap", "cap don vi", "kind", "type", "level"},
		store.FieldHeadName:    {"thu truong don vi", "thu truong", "ho ten thu truong", "ho va ten thu truong", "nguoi dung dau", "lanh dao don vi", "head", "head name"},
		store.FieldHeadTitle:   {"chuc vu thu truong", "chuc vu", "chuc danh thu truong", "head title"},
		store.FieldHeadMailbox: {"email thu truong", "thu dien tu thu truong", "email", "e mail", "thu dien tu", "head email", "head mailbox"},
		store.FieldValidFrom:   {"hieu luc tu", "tu ngay", "ngay hieu luc", "valid from"},
		store.FieldValidTo:     {"hieu luc den", "den ngay", "ngay het hieu luc", "valid to", "valid until"},
		fieldIgnore:            {"stt", "tt", "so tt", "so thu tu", "no", "#"},
	},
	Respondents: {
		store.FieldExternalID: {"ma can bo", "ma cbcc", "ma cong chuc", "ma cb", "ma dinh danh", "ma so", "staff id", "staff code", "external id", "id"},
		store.FieldFullName:   {"ho va ten", "ho ten", "ho va ten nguoi duoc khao sat", "ten nguoi duoc khao sat", "full name", "name"},
		fieldFamilyPart:       {"ho va ten dem", "ho dem", "ho va dem", "ho ten dem"},
		fieldGivenPart:        {"ten", "given name", "first name"},
		fieldGender:           {"gioi tinh", "gender", "sex"},
		store.FieldSalutation: {"danh xung", "salutation", "xung ho"},
		store.FieldTitle:      {"chuc vu", "chuc danh", "title", "position", "job title"},
		store.FieldUnit:       {"ma don vi", "ma dv", "unit code"},
		fieldUnitName:         {"don vi", "ten don vi", "don vi cong tac", "co quan", "co quan don vi", "noi cong tac", "unit", "unit name"},
		store.FieldGroup:      {"nhom doi tuong", "nhom", "doi tuong", "ma nhom", "group", "group code"},
		store.FieldMailbox:    {"email", "e mail", "thu dien tu", "dia chi email", "dia chi thu dien tu", "hop thu", "hop thu cong vu", "mailbox"},
		store.FieldAliases:    {"email phu", "email khac", "thu dien tu khac", "hop thu khac", "aliases", "other emails"},
		fieldIgnore:           {"stt", "tt", "so tt", "so thu tu", "no", "#"},
	},
}

// Field names a person may give to --map, with what they mean.
var mapFields = map[Kind][]string{
	Units:       {store.FieldUnitCode, store.FieldUnitName, store.FieldParentCode, store.FieldUnitKind, store.FieldHeadName, store.FieldHeadTitle, store.FieldHeadMailbox, store.FieldValidFrom, store.FieldValidTo, fieldIgnore},
	Respondents: {store.FieldExternalID, store.FieldFullName, fieldFamilyPart, fieldGivenPart, fieldGender, store.FieldSalutation, store.FieldTitle, store.FieldUnit, fieldUnitName, store.FieldGroup, store.FieldMailbox, store.FieldAliases, fieldIgnore},
}

var (
	parenthetical = regexp.MustCompile(`\([^)]*\)|\[[^]]*\]`)
	requiredMark  = regexp.MustCompile(`[*:]+\s*$`)
)

// foldHeader folds a header cell for matching: no diacritics, lower case,
// without "(*)" required marks, trailing colons or parenthetical hints
// ("Email (bắt buộc)", "Thư điện tử (Email)").
func foldHeader(h string) string {
	h = strings.TrimSpace(h)
	if stripped := strings.TrimSpace(parenthetical.ReplaceAllString(h, "")); stripped != "" {
		h = stripped
	}
	h = requiredMark.ReplaceAllString(h, "")
	return vn.Fold(h)
}

// fieldFor returns the field a header means for kind, or "".
func fieldFor(kind Kind, header string, overrides map[string]string) string {
	folded := foldHeader(header)
	if folded == "" {
		return ""
	}
	for col, field := range overrides {
		if foldHeader(col) == folded {
			return field
		}
	}
	for field, names := range headerNames[kind] {
		for _, n := range names {
			if n == folded {
				return field
			}
		}
	}
	return ""
}

// validMapField reports whether field can be the target of --map.
func validMapField(kind Kind, field string) bool {
	for _, f := range mapFields[kind] {
		if f == field {
			return true
		}
	}
	return false
}
