// Package templates renders the Vietnamese messages phieu sends: invitations,
// reminders, receipts, correction requests and the three digests. Each kind
// has a subject, a plain-text part and an HTML part. The defaults are
// embedded; a campaign may override any file from a directory.
package templates

import (
	"bytes"
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/vn"
	"golang.org/x/text/unicode/norm"
)

// Kind is a kind of message.
type Kind string

const (
	Invitation     Kind = "invitation"      // to a respondent
	Reminder       Kind = "reminder"        // to a non-respondent; firmer with each round
	Receipt        Kind = "receipt"         // answers recorded
	Correction     Kind = "correction"      // answers missing or invalid
	HeadDigest     Kind = "head_digest"     // to a unit head: who has not answered
	OperatorDigest Kind = "operator_digest" // to the Home Affairs operator: progress
	LiaisonDigest  Kind = "liaison_digest"  // to the IT liaison: delivery failures
)

// Kinds lists every kind.
var Kinds = []Kind{Invitation, Reminder, Receipt, Correction, HeadDigest, OperatorDigest, LiaisonDigest}

// ParseKind returns the kind named s.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return "", store.Errorf(store.EINVALID, "%q is not a message kind (%s)", s, strings.Join(names, ", "))
}

// Data is everything a template may show. Fields a kind does not use stay
// zero. Answers, Problems and Digest travel as JSON in the outbox payload.
type Data struct {
	Campaign   *store.Campaign   `json:"-"`
	Respondent *store.Respondent `json:"-"`
	Unit       *store.Unit       `json:"-"` // the respondent's unit, or the head's for HeadDigest
	Now        time.Time         `json:"-"` // the moment of rendering: days left count from it
	Round      int               `json:"-"`
	Ref        string            `json:"-"` // "KS-7F3A9CQ2XM", shown in the subject

	Answers  []Answer        `json:"answers,omitempty"`
	Problems []AnswerProblem `json:"problems,omitempty"`
	Digest   *Digest         `json:"digest,omitempty"`
}

// Answer is one recorded answer, as the respondent would read it.
type Answer struct {
	Code  string `json:"code"`
	Text  string `json:"text"`
	Value string `json:"value"` // "8", "B – Hợp lý", free text
}

// AnswerProblem is an answer that is missing or invalid.
type AnswerProblem struct {
	Code    string `json:"code"`
	Text    string `json:"text"`
	Problem string `json:"problem"` // "chưa trả lời", "giá trị 12 ngoài thang 1–10"
}

// Digest is what the three digests report.
type Digest struct {
	Counts   store.StatusCounts   `json:"counts,omitempty"`
	Pending  []DigestMember       `json:"pending,omitempty"`
	Stats    *store.CampaignStats `json:"stats,omitempty"`
	Failures []DigestFailure      `json:"failures,omitempty"`
	Since    time.Time            `json:"since,omitzero"`
	// AtRisk are the units with the lowest answer rates (operator digest).
	AtRisk []store.UnitStats `json:"at_risk,omitempty"`
	// FailedAddresses and Review count members whose mail fails and
	// messages waiting for a person (operator digest).
	FailedAddresses int `json:"failed_addresses,omitempty"`
	Review          int `json:"review,omitempty"`
	// Alert turns the IT liaison's digest into an immediate warning: why
	// sending looks blocked.
	Alert string `json:"alert,omitempty"`
}

// DigestMember is one person in a unit head's digest.
type DigestMember struct {
	Name     string             `json:"name"`
	Title    string             `json:"title,omitempty"`
	UnitName string             `json:"unit_name,omitempty"`
	Mailbox  string             `json:"mailbox,omitempty"`
	Status   store.MemberStatus `json:"status"`
	Reason   string             `json:"reason,omitempty"` // why their mail fails: "hộp thư không tồn tại (5.1.1)"
}

// DigestFailure is one delivery failure in the IT liaison's digest.
type DigestFailure struct {
	At       time.Time `json:"at"`
	Name     string    `json:"name,omitempty"`
	UnitName string    `json:"unit_name,omitempty"`
	Mailbox  string    `json:"mailbox"`
	Domain   string    `json:"domain"`
	Stage    string    `json:"stage"` // dial, tls, auth, mail, rcpt, data, or dsn for a bounce
	Code     int       `json:"code,omitempty"`
	Status   string    `json:"status,omitempty"`
	Class    string    `json:"class"`
	Text     string    `json:"text"`
	Count    int       `json:"count,omitempty"`
}

// Message is a rendered message.
type Message struct {
	Subject, Text, HTML string
	Attachments         []Attachment
}

// Attachment is a file sent with a message: the IT liaison's digest carries
// its failures as a spreadsheet.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// Set is a parsed set of templates for every kind.
type Set struct {
	subject map[Kind]*texttemplate.Template
	text    map[Kind]*texttemplate.Template
	html    map[Kind]*htmltemplate.Template

	cache sync.Map // blockKey -> *block, see blocks
}

type blockKey struct {
	code    string
	updated int64
	you     string // the form of address, which the blocks may use
}

// block is the shared blocks as rendered for one campaign and one form of
// address.
type block struct {
	// campaign is a copy of the campaign with its text composed (NFC);
	// nil when the campaign's text was composed already.
	campaign *store.Campaign

	questionnaireText, instructionsText, signatureText string
	questionnaireHTML, instructionsHTML, signatureHTML htmltemplate.HTML
}

// sharedBlocks are the blocks of common.*.tmpl rendered once per campaign
// version and form of address: they may use .Campaign and .You only.
var sharedBlocks = []string{"questionnaire", "instructions", "signature"}

//go:embed default/*.tmpl
var defaultFS embed.FS

// Template files: for each kind, KIND.subject.tmpl, KIND.txt.tmpl and
// KIND.html.tmpl; common.txt.tmpl and common.html.tmpl hold the blocks they
// share (questionnaire, reply instructions, signature).
const (
	commonText = "common.txt.tmpl"
	commonHTML = "common.html.tmpl"
)

func fileNames() []string {
	names := []string{commonText, commonHTML}
	for _, k := range Kinds {
		names = append(names, string(k)+".subject.tmpl", string(k)+".txt.tmpl", string(k)+".html.tmpl")
	}
	return names
}

var (
	defaultOnce sync.Once
	defaultSet  *Set
	defaultErr  error
)

// Default returns the embedded Vietnamese templates. Tests prove they parse.
func Default() *Set {
	defaultOnce.Do(func() { defaultSet, defaultErr = load("") })
	if defaultErr != nil {
		panic(defaultErr)
	}
	return defaultSet
}

// Load returns the defaults overridden by the files present in dir. Files
// that are not template names are refused, so a misspelt override is not
// silently ignored.
func Load(dir string) (*Set, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("templates: %s is not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	known := map[string]bool{}
	for _, n := range fileNames() {
		known[n] = true
	}
	var unknown []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmpl") && !known[e.Name()] {
			unknown = append(unknown, e.Name())
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("templates: %s: unknown template files %s (expected KIND.subject.tmpl, KIND.txt.tmpl, KIND.html.tmpl for kinds %v, or common.txt.tmpl, common.html.tmpl)",
			dir, strings.Join(unknown, ", "), Kinds)
	}
	return load(dir)
}

// read returns a template file's path and contents: from dir when there,
// else the embedded default.
func read(dir, name string) (string, string, error) {
	if dir != "" {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err == nil {
			if !utf8.Valid(b) {
				return p, "", fmt.Errorf("templates: %s is not UTF-8", p)
			}
			return p, vn.NFC(string(b)), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return p, "", fmt.Errorf("templates: %w", err)
		}
	}
	b, err := defaultFS.ReadFile("default/" + name)
	if err != nil {
		return "", "", fmt.Errorf("templates: default %s: %w", name, err)
	}
	return "default/" + name, string(b), nil
}

func load(dir string) (*Set, error) {
	s := &Set{subject: map[Kind]*texttemplate.Template{}, text: map[Kind]*texttemplate.Template{}, html: map[Kind]*htmltemplate.Template{}}
	ctPath, ct, err := read(dir, commonText)
	if err != nil {
		return nil, err
	}
	chPath, ch, err := read(dir, commonHTML)
	if err != nil {
		return nil, err
	}
	for _, k := range Kinds {
		path, src, err := read(dir, string(k)+".subject.tmpl")
		if err != nil {
			return nil, err
		}
		if s.subject[k], err = texttemplate.New(path).Funcs(funcs).Option("missingkey=error").Parse(src); err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		path, src, err = read(dir, string(k)+".txt.tmpl")
		if err != nil {
			return nil, err
		}
		t := texttemplate.New(path).Funcs(funcs).Option("missingkey=error")
		if _, err := t.New(ctPath).Parse(ct); err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		if s.text[k], err = t.Parse(src); err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		path, src, err = read(dir, string(k)+".html.tmpl")
		if err != nil {
			return nil, err
		}
		h := htmltemplate.New(path).Funcs(htmltemplate.FuncMap(funcs)).Option("missingkey=error")
		if _, err := h.New(chPath).Parse(ch); err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		if s.html[k], err = h.Parse(src); err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
	}
	return s, nil
}

// Render renders one message.
func (s *Set) Render(kind Kind, d *Data) (*Message, error) {
	if d == nil || d.Campaign == nil {
		return nil, fmt.Errorf("templates: render %s: no campaign", kind)
	}
	if s.subject[kind] == nil {
		return nil, fmt.Errorf("templates: render: unknown kind %q", kind)
	}
	if kind == HeadDigest && d.Unit == nil {
		return nil, fmt.Errorf("templates: render %s: no unit", kind)
	}
	if (kind == Invitation || kind == Reminder || kind == Receipt || kind == Correction) && d.Respondent == nil {
		return nil, fmt.Errorf("templates: render %s: no respondent", kind)
	}
	b, err := s.blocks(d)
	if err != nil {
		return nil, fmt.Errorf("templates: render %s: %w", kind, err)
	}
	c := d.Campaign
	if b.campaign != nil {
		c = b.campaign
	}
	v := newView(composedData(d, c), b)
	var subj, text, html bytes.Buffer
	if err := s.subject[kind].Execute(&subj, v); err != nil {
		return nil, fmt.Errorf("templates: render %s subject: %w", kind, err)
	}
	if err := s.text[kind].Execute(&text, v); err != nil {
		return nil, fmt.Errorf("templates: render %s text: %w", kind, err)
	}
	if err := s.html[kind].Execute(&html, v); err != nil {
		return nil, fmt.Errorf("templates: render %s html: %w", kind, err)
	}
	// Template files are composed (NFC) when loaded and composedData has
	// composed every value, so the output needs no normalizing pass.
	m := &Message{
		Subject: strings.Join(strings.Fields(subj.String()), " "),
		Text:    tidyText(text.String()),
		HTML:    strings.TrimSpace(html.String()) + "\n",
	}
	if m.Subject == "" {
		return nil, fmt.Errorf("templates: render %s: the subject is empty", kind)
	}
	if kind == LiaisonDigest && d.Digest != nil && len(d.Digest.Failures) > 0 {
		m.Attachments = append(m.Attachments, failuresCSV(d))
	}
	return m, nil
}

// failuresCSV is the liaison digest's failures as a spreadsheet: UTF-8
// with a BOM so that Excel shows Vietnamese, one row per failure, with
// what each class means and what to do.
func failuresCSV(d *Data) Attachment {
	var b bytes.Buffer
	b.WriteString("\ufeff")
	w := csv.NewWriter(&b)
	w.Write([]string{"Thời gian", "Hộp thư", "Người nhận", "Đơn vị", "Tên miền", "Giai đoạn", "Mã SMTP", "Mã trạng thái",
		"Loại lỗi", "Ý nghĩa", "Cách xử lý", "Nội dung máy chủ trả về"})
	loc := d.Campaign.Loc()
	for _, f := range d.Digest.Failures {
		meaning, action := store.FailureClass(f.Class).Explain()
		code := ""
		if f.Code != 0 {
			code = strconv.Itoa(f.Code)
		}
		w.Write([]string{f.At.In(loc).Format("02/01/2006 15:04"), f.Mailbox, f.Name, f.UnitName, f.Domain, f.Stage, code, f.Status,
			f.Class, meaning, action, f.Text})
	}
	w.Flush()
	return Attachment{Name: "loi-gui-thu-" + d.Campaign.Code + "-" + d.Now.In(loc).Format("2006-01-02") + ".csv",
		ContentType: "text/csv; charset=utf-8", Data: b.Bytes()}
}

// blocks renders the shared blocks once per campaign version and form of
// address; they are most of an invitation, the same for many members, and
// (through reflection) the slowest part to render.
func (s *Set) blocks(d *Data) (*block, error) {
	key := blockKey{d.Campaign.Code, d.Campaign.UpdatedAt.UnixNano(), pronoun(d.Respondent)}
	if b, ok := s.cache.Load(key); ok && !d.Campaign.UpdatedAt.IsZero() {
		return b.(*block), nil
	}
	var r *store.Respondent
	if d.Respondent != nil {
		r = &store.Respondent{Salutation: d.Respondent.Salutation}
	}
	b := &block{}
	c := composedCampaign(d.Campaign)
	if c != d.Campaign {
		b.campaign = c
	}
	only := newView(&Data{Campaign: c, Respondent: r}, nil)
	texts := []*string{&b.questionnaireText, &b.instructionsText, &b.signatureText}
	htmls := []*htmltemplate.HTML{&b.questionnaireHTML, &b.instructionsHTML, &b.signatureHTML}
	for i, name := range sharedBlocks {
		var text, html bytes.Buffer
		if err := s.text[Invitation].ExecuteTemplate(&text, name, only); err != nil {
			return nil, err
		}
		if err := s.html[Invitation].ExecuteTemplate(&html, name, only); err != nil {
			return nil, err
		}
		*texts[i] = strings.TrimRight(text.String(), "\n")
		// Produced by html/template, so escaped already.
		*htmls[i] = htmltemplate.HTML(html.String())
	}
	s.cache.Store(key, b)
	return b, nil
}

// tidyText drops trailing spaces and runs of blank lines, so templates can
// be laid out for reading without leaving stray white space in the mail.
func tidyText(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var out []string
	blank := true // drop leading blank lines
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n"
}

// view is what templates execute on: the Data plus values derived from it.
// They are fields, computed once per message, rather than methods: a
// template calls a method through reflection at many times the cost of
// reading a field.
type view struct {
	*Data
	Loc          *time.Location // the campaign's time zone
	You          string         // Ông, Bà, đồng chí, or Ông/Bà when the roster does not say
	Salutation   string         // the opening line
	Deadline     string         // "23 giờ 59 ngày 03/03/2023"
	DaysLeft     int            // calendar days to the deadline
	DaysLeftText string         // "còn 5 ngày", "hôm nay là hạn cuối"
	NowText      string         // the rendering moment, "dd/mm/yyyy hh:mm"
	HeadName     string         // the unit head with their title

	// The shared blocks of common.*.tmpl, rendered once per campaign and
	// form of address.
	QuestionnaireText, InstructionsText, SignatureText string
	QuestionnaireHTML, InstructionsHTML, SignatureHTML htmltemplate.HTML
}

func newView(d *Data, b *block) view {
	v := view{Data: d, Loc: d.Campaign.Loc(), You: pronoun(d.Respondent), Deadline: DeadlineText(d.Campaign)}
	unit := ""
	if d.Unit != nil {
		unit = d.Unit.Name
	}
	v.Salutation = Salutation(d.Respondent, unit)
	v.DaysLeft = DaysLeft(d.Campaign, d.Now)
	switch n := v.DaysLeft; {
	case n > 0:
		v.DaysLeftText = fmt.Sprintf("còn %d ngày", n)
	case n == 0:
		v.DaysLeftText = "hôm nay là hạn cuối"
	default:
		v.DaysLeftText = "đã quá hạn"
	}
	v.NowText = d.Now.In(v.Loc).Format("02/01/2006 15:04")
	if u := d.Unit; u != nil {
		switch h := u.Head; {
		case h.Title != "" && h.Name != "":
			v.HeadName = h.Title + " " + h.Name
		case h.Name != "":
			v.HeadName = h.Name
		default:
			v.HeadName = "Thủ trưởng " + u.Name
		}
	}
	if b != nil {
		v.QuestionnaireText, v.InstructionsText, v.SignatureText = b.questionnaireText, b.instructionsText, b.signatureText
		v.QuestionnaireHTML, v.InstructionsHTML, v.SignatureHTML = b.questionnaireHTML, b.instructionsHTML, b.signatureHTML
	}
	return v
}

func pronoun(r *store.Respondent) string {
	if r == nil {
		return "Ông/Bà"
	}
	switch r.Salutation {
	case store.SalutationOng:
		return "Ông"
	case store.SalutationBa:
		return "Bà"
	case store.SalutationDongChi:
		return "đồng chí"
	}
	return "Ông/Bà"
}

// Salutation returns the opening line: "Kính gửi: Ông Nguyễn Văn An, Giám
// đốc Sở Tư pháp". The unit name follows the title unless the title already
// names it; with no title the unit follows the name.
func Salutation(r *store.Respondent, unitName string) string {
	if r == nil {
		return "Kính gửi: Ông/Bà"
	}
	var b strings.Builder
	if r.Salutation == store.SalutationDongChi {
		b.WriteString("Kính gửi đồng chí ")
	} else {
		b.WriteString("Kính gửi: " + pronoun(r) + " ")
	}
	b.WriteString(r.FullName)
	title := strings.TrimSpace(r.Title)
	unitName = strings.TrimSpace(unitName)
	switch {
	case title != "" && unitName != "" && !namesOrganization(title, unitName):
		b.WriteString(", " + title + " " + unitName)
	case title != "":
		b.WriteString(", " + title)
	case unitName != "":
		b.WriteString(", " + unitName)
	}
	return b.String()
}

// orgWords are words that, in a title, name the body the person serves in:
// "Phó Chủ tịch UBND tỉnh" needs no unit name after it.
var orgWords = map[string]bool{"ubnd": true, "hdnd": true, "tinh": true, "xa": true, "phuong": true, "huyen": true,
	"so": true, "hoi": true, "thanh pho": true, "dac khu": true,
	"dang uy": true, "tinh uy": true, "thanh uy": true, "huyen uy": true}

// namesOrganization reports whether title already says where the person
// works: it contains the unit's name, or a word naming an administrative
// body (compared without diacritics).
func namesOrganization(title, unitName string) bool {
	key := [2]string{title, unitName}
	if v, ok := orgCache.Load(key); ok {
		return v.(bool)
	}
	v := computeNamesOrganization(title, unitName)
	orgCache.Store(key, v)
	return v
}

// orgCache remembers namesOrganization: a province has a few hundred
// distinct titles and units, and folding diacritics is not free.
var orgCache sync.Map

func computeNamesOrganization(title, unitName string) bool {
	t := vn.Fold(title)
	if strings.Contains(t, vn.Fold(unitName)) {
		return true
	}
	words := strings.Fields(t)
	for i, w := range words {
		if orgWords[w] || i+1 < len(words) && orgWords[w+" "+words[i+1]] {
			return true
		}
	}
	return false
}

// Reflow joins the lines of each paragraph (paragraphs are separated by
// blank lines) and wraps them to width: for free text from campaign files,
// whose line breaks are the YAML author's, not the reader's.
func Reflow(s string, width int) string {
	var paras []string
	for _, p := range strings.Split(strings.ReplaceAll(strings.TrimSpace(s), "\r\n", "\n"), "\n\n") {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			paras = append(paras, Wrap(p, width))
		}
	}
	return strings.Join(paras, "\n\n")
}

// DeadlineText writes the deadline as official letters do: "23 giờ 59 ngày
// 03/03/2023", in the campaign's zone.
func DeadlineText(c *store.Campaign) string {
	t := c.Deadline.In(c.Loc())
	return fmt.Sprintf("%02d giờ %02d ngày %s", t.Hour(), t.Minute(), t.Format("02/01/2006"))
}

// DaysLeft counts calendar days from now's date to the deadline's date in
// the campaign's zone: 0 on the deadline day, negative after it.
func DaysLeft(c *store.Campaign, now time.Time) int {
	loc := c.Loc()
	d := c.Deadline.In(loc)
	n := now.In(loc)
	dd := time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, time.UTC)
	nd := time.Date(n.Year(), n.Month(), n.Day(), 12, 0, 0, 0, time.UTC)
	return int(dd.Sub(nd).Hours() / 24)
}

// Wrap word-wraps each line of s to width characters (runes), keeping the
// line breaks already there; a word longer than width stays whole.
func Wrap(s string, width int) string { return hang(s, width, "") }

// hang wraps like Wrap and indents continuation lines with indent.
func hang(s string, width int, indent string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		words := strings.Fields(line)
		if len(words) == 0 {
			out = append(out, "")
			continue
		}
		lead := line[:len(line)-len(strings.TrimLeft(line, " "))]
		cur := lead + words[0]
		n := utf8.RuneCountInString(cur)
		for _, w := range words[1:] {
			wl := utf8.RuneCountInString(w)
			if n+1+wl > width {
				out = append(out, cur)
				cur = lead + indent + w
				n = utf8.RuneCountInString(cur)
				continue
			}
			cur += " " + w
			n += 1 + wl
		}
		out = append(out, cur)
	}
	return strings.Join(out, "\n")
}

// AnswerLine is the line a respondent fills in: "C1 [1-10]:",
// "C4 [A/B/C/D]:", "C7 [ý kiến]:".
func AnswerLine(q store.Question) string {
	switch q.Type {
	case store.AnswerScale:
		return fmt.Sprintf("%s [%d-%d]:", q.Code, q.Min, q.Max)
	case store.AnswerChoice:
		letters := make([]string, len(q.Choices))
		for i, c := range q.Choices {
			letters[i] = c.Letter
		}
		return fmt.Sprintf("%s [%s]:", q.Code, strings.Join(letters, "/"))
	}
	return q.Code + " [ý kiến]:"
}

// Percent writes part/whole as "85,3%" (Vietnamese decimal comma).
func Percent(part, whole int) string {
	if whole == 0 {
		return "0%"
	}
	s := fmt.Sprintf("%.1f", float64(part)*100/float64(whole))
	s = strings.TrimSuffix(s, ".0")
	return strings.Replace(s, ".", ",", 1) + "%"
}

// Advice returns the Vietnamese explanation of a failure class and stage.
func Advice(class, stage string) string {
	switch stage {
	case "dial":
		return "Không kết nối được máy chủ thư — kiểm tra máy chủ, tường lửa và cổng SMTP."
	case "tls":
		return "Lỗi mã hóa TLS hoặc chứng thư số — kiểm tra chứng thư của máy chủ và tệp CA cấu hình (ca_file)."
	case "auth":
		return "Máy chủ từ chối đăng nhập — kiểm tra tài khoản, mật khẩu, tài khoản có bị khóa không."
	case "mail":
		return "Máy chủ từ chối địa chỉ người gửi — kiểm tra quyền gửi của tài khoản khảo sát."
	}
	meaning, action := store.FailureClass(class).Explain()
	return meaning + " " + action
}

// failureGroup is the failures of one domain and class, for the liaison.
type failureGroup struct {
	Domain, Class, Label, Stage, Advice string
	Failures                            []DigestFailure
	Count                               int
}

func groupFailures(fs []DigestFailure) []failureGroup {
	idx := map[[3]string]int{}
	var out []failureGroup
	for _, f := range fs {
		k := [3]string{f.Domain, f.Class, stageGroup(f.Stage)}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, failureGroup{Domain: f.Domain, Class: f.Class, Label: store.FailureClass(f.Class).Label(), Stage: k[2], Advice: Advice(f.Class, k[2])})
		}
		out[i].Failures = append(out[i].Failures, f)
		out[i].Count += max(f.Count, 1)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Domain != out[b].Domain {
			return out[a].Domain < out[b].Domain
		}
		return out[a].Class < out[b].Class
	})
	return out
}

// stageGroup keeps the stages that have their own advice.
func stageGroup(stage string) string {
	switch stage {
	case "dial", "tls", "auth", "mail":
		return stage
	}
	return ""
}

func truncate(n int, s string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

func countOf(c store.StatusCounts, names ...string) int {
	n := 0
	for _, s := range names {
		n += c[store.MemberStatus(s)]
	}
	return n
}

// answered counts members who answered, whether or not under review.
func answered(c store.StatusCounts) int {
	return c[store.StatusAnswered] + c[store.StatusAnsweredNeedsReview]
}

var funcs = texttemplate.FuncMap{
	"wrap":       func(width int, s string) string { return Wrap(s, width) },
	"reflow":     func(width int, s string) string { return Reflow(s, width) },
	"hang":       func(width int, indent, s string) string { return hang(s, width, indent) },
	"answerLine": AnswerLine,
	"percent":    Percent,
	"truncate":   truncate,
	"count":      countOf,
	"answered":   answered,
	"total":      func(c store.StatusCounts) int { return c.Total() },
	"label":      func(s store.MemberStatus) string { return s.Label() },
	"statuses":   func() []store.MemberStatus { return store.MemberStatuses },
	"groups":     groupFailures,
	"failures":   failureCount,
	"upper":      strings.ToUpper,
	"repeat":     strings.Repeat,
	"indent":     func(n int) string { return strings.Repeat("  ", n) },
	"add":        func(a, b int) int { return a + b },
	"datetime": func(loc *time.Location, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format("02/01/2006 15:04")
	},
	"date": func(loc *time.Location, t time.Time) string { return t.In(loc).Format("02/01/2006") },
}

// nfc composes s; norm's quick check returns s itself, without copying,
// when it is composed already (the common case).
func nfc(s *string) bool {
	if norm.NFC.IsNormalString(*s) {
		return false
	}
	*s = norm.NFC.String(*s)
	return true
}

// composedCampaign returns c, or a copy with its text composed (NFC) when
// any is not: campaign files saved by some editors (macOS) are decomposed.
func composedCampaign(c *store.Campaign) *store.Campaign {
	cc := *c
	changed := false
	for _, p := range []*string{&cc.Title, &cc.LegalRef, &cc.SenderName, &cc.Office, &cc.Questionnaire.Title, &cc.Questionnaire.Intro} {
		changed = nfc(p) || changed
	}
	qs := make([]store.Question, len(c.Questionnaire.Questions))
	for i, q := range c.Questionnaire.Questions {
		changed = nfc(&q.Text) || changed
		cs := make([]store.Choice, len(q.Choices))
		for j, ch := range q.Choices {
			changed = nfc(&ch.Text) || changed
			cs[j] = ch
		}
		q.Choices = cs
		qs[i] = q
	}
	if !changed {
		return c
	}
	cc.Questionnaire.Questions = qs
	return &cc
}

// composedData returns d with campaign c, its per-message text composed
// (NFC): answers come from replies that old mail software may have written
// in windows-1258, whose tones are combining marks. d itself is not changed.
func composedData(d *Data, c *store.Campaign) *Data {
	dd := *d
	dd.Campaign = c
	if r := d.Respondent; r != nil && (!norm.NFC.IsNormalString(r.FullName) || !norm.NFC.IsNormalString(r.Title)) {
		rc := *r
		nfc(&rc.FullName)
		nfc(&rc.Title)
		dd.Respondent = &rc
	}
	if u := d.Unit; u != nil {
		uc := *u
		a, b, c := nfc(&uc.Name), nfc(&uc.Head.Name), nfc(&uc.Head.Title)
		if a || b || c {
			dd.Unit = &uc
		}
	}
	if len(d.Answers) > 0 {
		dd.Answers = make([]Answer, len(d.Answers))
		for i, a := range d.Answers {
			nfc(&a.Text)
			nfc(&a.Value)
			dd.Answers[i] = a
		}
	}
	if len(d.Problems) > 0 {
		dd.Problems = make([]AnswerProblem, len(d.Problems))
		for i, p := range d.Problems {
			nfc(&p.Text)
			nfc(&p.Problem)
			dd.Problems[i] = p
		}
	}
	if g := d.Digest; g != nil {
		gc := *g
		gc.Pending = make([]DigestMember, len(g.Pending))
		for i, m := range g.Pending {
			nfc(&m.Name)
			nfc(&m.Title)
			nfc(&m.UnitName)
			gc.Pending[i] = m
		}
		gc.Failures = make([]DigestFailure, len(g.Failures))
		for i, f := range g.Failures {
			nfc(&f.Name)
			nfc(&f.UnitName)
			nfc(&f.Text)
			gc.Failures[i] = f
		}
		dd.Digest = &gc
	}
	return &dd
}

// failureCount counts the failed messages of a liaison digest: a row may
// stand for several (Count).
func failureCount(fs []DigestFailure) int {
	n := 0
	for _, f := range fs {
		n += max(f.Count, 1)
	}
	return n
}
