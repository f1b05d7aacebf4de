// Package synth generates a fictional province — a unit tree with heads and a
// roster of officials with realistic Vietnamese names — deterministically from
// a seed. Benchmarks, the demo and tests use it; every mailbox is on a .test
// domain so nothing generated can ever reach a real person.
package synth

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/phieu/phieu/store"
)

// Domain is the mail domain of the fictional province.
const Domain = "binhson.gov.test"

var (
	familyNames = []string{"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trương", "Lương", "Mai"}
	middleMale  = []string{"Văn", "Hữu", "Đức", "Minh", "Quốc", "Thanh", "Xuân", "Công", "Đình", "Ngọc"}
	middleFem   = []string{"Thị", "Thị Thu", "Thị Hồng", "Ngọc", "Thanh", "Thị Kim", "Thu", "Mỹ"}
	givenMale   = []string{"An", "Bảo", "Cường", "Dũng", "Đức", "Giang", "Hải", "Hùng", "Khánh", "Lâm", "Long", "Mạnh", "Nam", "Nghĩa", "Phúc", "Quang", "Sơn", "Tâm", "Thắng", "Toàn", "Trung", "Tuấn", "Việt", "Vĩnh"}
	givenFem    = []string{"Anh", "Ánh", "Châu", "Diệp", "Dung", "Hà", "Hằng", "Hoa", "Hương", "Lan", "Linh", "Loan", "Mai", "Ngân", "Nhung", "Oanh", "Phương", "Quỳnh", "Thảo", "Thủy", "Trang", "Uyên", "Vân", "Yến"}
	departments = []string{"Tư pháp", "Tài chính", "Xây dựng", "Nội vụ", "Y tế", "Giáo dục và Đào tạo", "Nông nghiệp và Môi trường", "Khoa học và Công nghệ", "Công Thương", "Văn hóa, Thể thao và Du lịch", "Dân tộc và Tôn giáo", "Ngoại vụ"}
	divisions   = []string{"Văn phòng", "Thanh tra", "Phòng Kế hoạch - Tài chính", "Phòng Tổ chức cán bộ", "Phòng Quản lý chuyên ngành", "Phòng Pháp chế", "Phòng Tổng hợp"}
	communes    = []string{"Phú Thủy", "Đức Long", "Hàm Tiến", "Mũi Né", "Tân Lập", "Hòa Thắng", "Sơn Mỹ", "Bình Tân", "Tiến Thành", "Thuận Quý", "Phước Hội", "La Gi"}
)

// Unit is a generated unit with the group its leaders belong to.
type Unit struct {
	store.Unit
	leaderGroup, staffGroup string
	leaderTitles            []string
	staffTitles             []string
}

// Province is a generated roster.
type Province struct {
	Units       []*Unit
	Respondents []*store.Respondent
}

// Generate builds a province with about units units (at least 3) and exactly
// respondents respondents, spread over the units. The tree has three levels:
// the province's People's Committee and Council at the top, departments and
// communes below it, divisions inside departments.
func Generate(seed uint64, units, respondents int) *Province {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := &Province{}
	ubnd := p.addUnit(r, "UBND", "Ủy ban nhân dân tỉnh Bình Sơn", "", "UBND tỉnh", "Chủ tịch UBND tỉnh")
	hdnd := p.addUnit(r, "HDND", "Hội đồng nhân dân tỉnh Bình Sơn", "", "HĐND tỉnh", "Chủ tịch HĐND tỉnh")
	hdnd.leaderGroup, hdnd.staffGroup = "HDND", "HDND"
	hdnd.leaderTitles = []string{"Đại biểu HĐND tỉnh"}
	hdnd.staffTitles = []string{"Đại biểu HĐND tỉnh"}
	ubnd.leaderGroup, ubnd.staffGroup = "LDS", "LDS"
	ubnd.leaderTitles = []string{"Phó Chủ tịch UBND tỉnh"}
	ubnd.staffTitles = []string{"Chánh Văn phòng UBND tỉnh"}

	remaining := max(units-2, 1)
	for i := 0; remaining > 0; i++ {
		// Two departments (with divisions) for every commune.
		if i%3 != 2 {
			n := i/3*2 + i%3
			name := departments[n%len(departments)]
			code := fmt.Sprintf("S%03d", n+1)
			if n >= len(departments) {
				name = fmt.Sprintf("%s (khu vực %d)", name, n/len(departments)+1)
			}
			sở := p.addUnit(r, code, "Sở "+name, ubnd.Code, "sở", "Giám đốc Sở "+name)
			sở.leaderGroup, sở.staffGroup = "LDS", "LDS"
			sở.leaderTitles = []string{"Giám đốc", "Phó Giám đốc"}
			sở.staffTitles = []string{"Phó Giám đốc"}
			remaining--
			for d := 0; d < 3 && remaining > 0; d++ {
				div := p.addUnit(r, fmt.Sprintf("%s-P%d", code, d+1), divisions[(n+d)%len(divisions)]+" Sở "+name, code, "phòng", "")
				div.Head.Title = headTitle(divisions[(n+d)%len(divisions)])
				div.leaderGroup, div.staffGroup = "LDP", "LDP"
				div.leaderTitles = []string{div.Head.Title}
				div.staffTitles = []string{"Phó " + div.Head.Title}
				remaining--
			}
			continue
		}
		n := i / 3
		kind, name := "xã", communes[n%len(communes)]
		if n%4 == 3 {
			kind = "phường"
		}
		if n >= len(communes) {
			name = fmt.Sprintf("%s %d", name, n/len(communes)+1)
		}
		x := p.addUnit(r, fmt.Sprintf("X%03d", n+1), "UBND "+kind+" "+name, ubnd.Code, kind, "Chủ tịch UBND "+kind+" "+name)
		x.leaderGroup, x.staffGroup = "LDX", "LDX"
		x.leaderTitles = []string{"Chủ tịch UBND " + kind}
		x.staffTitles = []string{"Phó Chủ tịch UBND " + kind}
		remaining--
	}

	seen := map[string]int{}
	for i := 0; i < respondents; i++ {
		u := p.Units[i%len(p.Units)]
		female := r.IntN(5) < 2
		name, family, given := personName(r, female)
		local := mailboxLocal(family, given, name)
		seen[local]++
		if seen[local] > 1 {
			local += strconv.Itoa(seen[local])
		}
		titles := u.staffTitles
		if i < len(p.Units) {
			titles = u.leaderTitles
		}
		sal := store.SalutationOng
		if female {
			sal = store.SalutationBa
		}
		p.Respondents = append(p.Respondents, &store.Respondent{
			ExternalID: fmt.Sprintf("CB%06d", i+1),
			FullName:   name,
			Salutation: sal,
			Title:      titles[r.IntN(len(titles))],
			UnitCode:   u.Code,
			Group:      u.staffGroup,
			Mailbox:    local + "@" + Domain,
			Active:     true,
		})
	}
	return p
}

func headTitle(division string) string {
	switch {
	case strings.HasPrefix(division, "Văn phòng"):
		return "Chánh Văn phòng"
	case strings.HasPrefix(division, "Thanh tra"):
		return "Chánh Thanh tra"
	}
	return "Trưởng phòng"
}

func (p *Province) addUnit(r *rand.Rand, code, name, parent, kind, headTitle string) *Unit {
	female := r.IntN(4) == 0
	head, family, given := personName(r, female)
	u := &Unit{Unit: store.Unit{
		Code: code, Name: name, ParentCode: parent, Kind: kind,
		Head: store.Head{Name: head, Title: headTitle, Mailbox: "tt." + mailboxLocal(family, given, head) + "." + strings.ToLower(code) + "@" + Domain},
	}}
	p.Units = append(p.Units, u)
	return u
}

func personName(r *rand.Rand, female bool) (full, family, given string) {
	family = familyNames[r.IntN(len(familyNames))]
	middle, givens := middleMale, givenMale
	if female {
		middle, givens = middleFem, givenFem
	}
	given = givens[r.IntN(len(givens))]
	return family + " " + middle[r.IntN(len(middle))] + " " + given, family, given
}

// mailboxLocal makes the local part the way provincial systems do: the given
// name in full followed by the initials of the others, without diacritics
// ("Nguyễn Thị Ánh" → "anhnt").
func mailboxLocal(family, given, full string) string {
	words := strings.Fields(full)
	var b strings.Builder
	b.WriteString(ascii(given))
	for _, w := range words[:len(words)-1] {
		b.WriteString(ascii(w)[:1])
	}
	return b.String()
}

var asciiFold = strings.NewReplacer(
	"à", "a", "á", "a", "ả", "a", "ã", "a", "ạ", "a", "ă", "a", "ằ", "a", "ắ", "a", "ẳ", "a", "ẵ", "a", "ặ", "a",
	"â", "a", "ầ", "a", "ấ", "a", "ẩ", "a", "ẫ", "a", "ậ", "a", "đ", "d", "è", "e", "é", "e", "ẻ", "e", "ẽ", "e", "ẹ", "e",
	"ê", "e", "ề", "e", "ế", "e", "ể", "e", "ễ", "e", "ệ", "e", "ì", "i", "í", "i", "ỉ", "i", "ĩ", "i", "ị", "i",
	"ò", "o", "ó", "o", "ỏ", "o", "õ", "o", "ọ", "o", "ô", "o", "ồ", "o", "ố", "o", "ổ", "o", "ỗ", "o", "ộ", "o",
	"ơ", "o", "ờ", "o", "ớ", "o", "ở", "o", "ỡ", "o", "ợ", "o", "ù", "u", "ú", "u", "ủ", "u", "ũ", "u", "ụ", "u",
	"ư", "u", "ừ", "u", "ứ", "u", "ử", "u", "ữ", "u", "ự", "u", "ỳ", "y", "ý", "y", "ỷ", "y", "ỹ", "y", "ỵ", "y",
)

func ascii(s string) string { return asciiFold.Replace(strings.ToLower(s)) }

// UnitHeader and RespondentHeader are the column headers the generated CSV
// files use: the Vietnamese headers offices write.
var (
	UnitHeader       = []string{"STT", "Mã đơn vị", "Tên đơn vị", "Mã đơn vị cấp trên", "Loại đơn vị", "Thủ trưởng đơn vị", "Chức vụ thủ trưởng", "Email thủ trưởng"}
	RespondentHeader = []string{"STT", "Mã cán bộ", "Họ và tên", "Giới tính", "Chức vụ", "Mã đơn vị", "Nhóm đối tượng", "Email"}
)

// WriteUnitsCSV writes the units as a UTF-8 CSV with the Vietnamese headers.
func (p *Province) WriteUnitsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(UnitHeader)
	for i, u := range p.Units {
		_ = cw.Write([]string{strconv.Itoa(i + 1), u.Code, u.Name, u.ParentCode, u.Kind, u.Head.Name, u.Head.Title, u.Head.Mailbox})
	}
	cw.Flush()
	return cw.Error()
}

// WriteRespondentsCSV writes the respondents as a UTF-8 CSV.
func (p *Province) WriteRespondentsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(RespondentHeader)
	for i, r := range p.Respondents {
		gender := "Nam"
		if r.Salutation == store.SalutationBa {
			gender = "Nữ"
		}
		_ = cw.Write([]string{strconv.Itoa(i + 1), r.ExternalID, r.FullName, gender, r.Title, r.UnitCode, r.Group, r.Mailbox})
	}
	cw.Flush()
	return cw.Error()
}

// StoreUnits returns the units as store values, parents first.
func (p *Province) StoreUnits() []*store.Unit {
	out := make([]*store.Unit, len(p.Units))
	for i, u := range p.Units {
		uu := u.Unit
		out[i] = &uu
	}
	return out
}

// Groups returns the respondent groups present, in order of first appearance.
func (p *Province) Groups() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range p.Respondents {
		if !seen[r.Group] {
			seen[r.Group] = true
			out = append(out, r.Group)
		}
	}
	return out
}
