// Package answers reads questionnaire answers out of the text of a reply.
//
// phieu's invitation prints every question followed by an answer line such as
// "C1 [1-10]:", "C2 [A/B/C/D]:" or "C3 [ý kiến]:". People answer by replying:
// some write the answers above the quote ("C1: 8"), some type them into the
// quoted form ("> C1 [1-10]: 8"), some number them ("1. 8", "Câu 2: b").
// Read accepts all of these, checks the values against the questionnaire and
// says what is missing or wrong, in Vietnamese, for the correction request.
package answers

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/vn"
	"github.com/phieu/phieu/templates"
)

// Source is the part of a reply an answer was read from.
type Source string

const (
	SourceVisible Source = "visible" // what the person wrote above the quote
	SourceQuoted  Source = "quoted"  // typed into the quoted form
)

// Answer is one valid answer.
type Answer struct {
	Code   string // the questionnaire's code, as written in the questionnaire
	Value  string // canonical: "8" for scale, "B" for choice, trimmed text for text questions
	Source Source
	Line   string // the line it was read from, for review
}

// ProblemKind is what is wrong with an answer.
type ProblemKind string

const (
	ProblemMissing         ProblemKind = "missing"          // required, not answered
	ProblemOutOfRange      ProblemKind = "out_of_range"     // a number outside the scale
	ProblemNotANumber      ProblemKind = "not_a_number"     // a scale answered with something else
	ProblemBadChoice       ProblemKind = "bad_choice"       // not one of the letters, or several
	ProblemConflict        ProblemKind = "conflict"         // two different values in the same part
	ProblemUnknownQuestion ProblemKind = "unknown_question" // a code the questionnaire does not have
)

// Problem is an answer that is missing or invalid.
type Problem struct {
	Code    string // the questionnaire's code; for an unknown question, as written
	Kind    ProblemKind
	Got     string // what was written, shortened
	Message string // Vietnamese, for the correction request: "giá trị 12 ngoài thang 1–10"
}

// Result is what Read found.
type Result struct {
	Answers  []Answer  // valid answers, in questionnaire order
	Problems []Problem // in questionnaire order, unknown questions last
	Complete bool      // every required question has a valid answer and there is no problem
}

// Read reads answers from the visible text first, then from the quoted part
// (people type answers into the quoted form); for one question a visible
// answer wins over a quoted one, valid or not. Within the quoted part the
// least deeply quoted answer wins (deeper quotes are older messages).
//
// The instructions' example is never an answer: in the quoted part an
// answer line indented by four or more spaces after the quote markers
// ("       C1 [1-10]: 8") or mentioning "ví dụ" (unless it answers a text
// question), and in either part the answer line right after a line ending
// in "ví dụ:". Question headings ("C1. Công tác chỉ đạo...") are not
// answers, nor are numbered lines of the quoted part ("1. Bấm ...") that are
// not a valid answer, nor placeholders ("C1: ...", "C1: ___").
func Read(visible, quoted string, q store.Questionnaire) Result {
	r := newReader(q)
	var atts []attempt
	var unknown []Problem
	r.scan(visible, SourceVisible, &atts, &unknown)
	r.scan(quoted, SourceQuoted, &atts, &unknown)
	return r.decide(atts, unknown)
}

// ForReceipt lists the answers as the receipt shows them: "8", "B – Hợp lý",
// free text.
func (r Result) ForReceipt(q store.Questionnaire) []templates.Answer {
	out := make([]templates.Answer, 0, len(r.Answers))
	for _, a := range r.Answers {
		ta := templates.Answer{Code: a.Code, Value: a.Value}
		if qu := q.Question(a.Code); qu != nil {
			ta.Code = qu.Code
			ta.Text = ShortText(qu.Text)
			if qu.Type == store.AnswerChoice {
				for _, c := range qu.Choices {
					if strings.EqualFold(c.Letter, a.Value) && strings.TrimSpace(c.Text) != "" {
						ta.Value = strings.ToUpper(c.Letter) + " – " + vn.NFC(strings.TrimSpace(c.Text))
						break
					}
				}
			}
		}
		out = append(out, ta)
	}
	return out
}

// ForCorrection lists the problems as the correction request shows them.
func (r Result) ForCorrection(q store.Questionnaire) []templates.AnswerProblem {
	out := make([]templates.AnswerProblem, 0, len(r.Problems))
	for _, p := range r.Problems {
		tp := templates.AnswerProblem{Code: p.Code, Problem: p.Message}
		if qu := q.Question(p.Code); qu != nil && p.Kind != ProblemUnknownQuestion {
			tp.Code = qu.Code
			tp.Text = ShortText(qu.Text)
		} else {
			tp.Text = "mã câu hỏi không có trong phiếu"
		}
		out = append(out, tp)
	}
	return out
}

// ShortText shortens a question's text for the receipt and the correction
// request: without "(bắt buộc)", at most 48 characters, cut between words.
func ShortText(s string) string {
	s = strings.Join(strings.Fields(vn.NFC(s)), " ")
	s = strings.TrimSpace(strings.TrimSuffix(s, "(bắt buộc)"))
	const max = 48
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	rs := []rune(s)[:max]
	cut := len(rs)
	for i := len(rs) - 1; i > max/2; i-- {
		if rs[i] == ' ' {
			cut = i
			break
		}
	}
	return strings.TrimRight(string(rs[:cut]), " ,;:.-–") + "…"
}

// qinfo is a question with what the reader needs precomputed.
type qinfo struct {
	q        *store.Question
	letters  string // upper-cased letters of the code: "C"
	num      int    // the code's number, -1 when it has none
	suffix   string // lower-cased letter after the number: "C1a" -> "a"
	fold     string // folded text, to recognise the heading line
	choices  []string
	cfold    []string // folded choice texts
	letterOK string   // "A, B, C, D"
}

type reader struct {
	qs       []qinfo
	prefixes map[string]bool // upper-cased letter prefixes of the codes
	byNum    map[int]int     // number -> question, when codes are C1..Cn
}

func newReader(q store.Questionnaire) *reader {
	r := &reader{prefixes: map[string]bool{}}
	count := map[int]int{}
	for i := range q.Questions {
		qu := &q.Questions[i]
		in := qinfo{q: qu, num: -1, fold: fold(qu.Text)}
		letters, num, suffix, n, ok := splitCode(qu.Code)
		if ok && n == len(qu.Code) {
			in.letters, in.num, in.suffix = strings.ToUpper(letters), num, strings.ToLower(suffix)
			r.prefixes[in.letters] = true
			if in.suffix == "" {
				count[num]++
			}
		}
		for _, c := range qu.Choices {
			in.choices = append(in.choices, strings.ToUpper(strings.TrimSpace(c.Letter)))
			in.cfold = append(in.cfold, fold(c.Text))
		}
		in.letterOK = strings.Join(in.choices, ", ")
		r.qs = append(r.qs, in)
	}
	// Bare numbers ("1. 8", "Câu 1: 8") name a question only when the
	// codes are all one prefix and each number is used once.
	if len(r.prefixes) == 1 {
		r.byNum = map[int]int{}
		for i, in := range r.qs {
			if in.num >= 0 && in.suffix == "" && count[in.num] == 1 {
				r.byNum[in.num] = i
			}
		}
	}
	return r
}

// splitCode reads a code at the start of s: 1–3 ASCII letters, an optional
// space, 1–3 digits and an optional letter, not followed by a
// letter or digit. n is the number of bytes read.
func splitCode(s string) (letters string, num int, suffix string, n int, ok bool) {
	i := 0
	for i < len(s) && i < 4 && isASCIILetter(s[i]) {
		i++
	}
	if i == 0 || i > 3 {
		return "", 0, "", 0, false
	}
	letters = s[:i]
	if i < len(s) && s[i] == ' ' && i+1 < len(s) && isDigit(s[i+1]) {
		i++
	}
	j := i
	for j < len(s) && j-i < 4 && isDigit(s[j]) {
		j++
	}
	if j == i || j-i > 3 {
		return "", 0, "", 0, false
	}
	num, _ = strconv.Atoi(s[i:j])
	if j < len(s) && isASCIILetter(s[j]) && !followsWord(s, j+1) {
		suffix = s[j : j+1]
		j++
	}
	if followsWord(s, j) {
		return "", 0, "", 0, false
	}
	return letters, num, suffix, j, true
}

// followsWord reports whether a letter or digit starts at s[i].
func followsWord(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

func isASCIILetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
func isDigit(b byte) bool       { return b >= '0' && b <= '9' }

// line is one line of a part, normalised.
type line struct {
	raw    string // NFC, trimmed: for Answer.Line
	text   string // width-folded, spaces normalised, without quote markers, indentation and bullet
	indent int    // columns of indentation after the quote markers
	depth  int    // number of quote markers
}

func (l line) blank() bool { return l.text == "" }

// normalize composes s, folds full-width forms, turns every space into
// ' ' (tabs into four) and drops zero-width characters.
func normalize(s string) string {
	s = width.Fold.String(norm.NFC.String(s))
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
		case r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\ufeff' || r == '\u00ad' || r == '\u2060':
		case r == '\u2028' || r == '\u2029':
			b.WriteByte('\n')
		case r != '\n' && unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func splitLines(part string) []line {
	part = strings.ReplaceAll(part, "\r\n", "\n")
	part = strings.ReplaceAll(part, "\r", "\n")
	rawLines := strings.Split(part, "\n")
	normLines := strings.Split(normalize(part), "\n")
	if len(normLines) != len(rawLines) { // a separator inside a line
		rawLines = normLines
	}
	out := make([]line, len(normLines))
	for i, s := range normLines {
		l := line{raw: strings.TrimSpace(norm.NFC.String(rawLines[i]))}
		// Quote markers: "> ", ">>", "> > ".
		rest := s
		for {
			t := strings.TrimLeft(rest, " ")
			if strings.HasPrefix(t, ">") {
				l.depth++
				rest = t[1:]
				continue
			}
			break
		}
		if l.depth > 0 && strings.HasPrefix(rest, " ") {
			rest = rest[1:]
		}
		t := strings.TrimLeft(rest, " ")
		l.indent = len(rest) - len(t)
		t = strings.TrimRight(t, " ")
		// Bullets.
		for _, b := range []string{"- ", "* ", "• ", "+ ", "· ", "– ", "◦ ", "▪ ", "‣ ", "○ ", "● "} {
			if strings.HasPrefix(t, b) {
				t = strings.TrimLeft(t[len(b):], " ")
				break
			}
		}
		l.text = t
		out[i] = l
	}
	return out
}

// parsed is what one line says.
type parsed struct {
	qi     int    // question index, -1 when not in the questionnaire
	code   string // as written, for an unknown question
	strong bool   // a code or "Câu n"; weak: "1. 8"
	value  string // trimmed, may be empty (the answer template)
}

// parse reads an answer line; ok is false when the line is not one.
func (r *reader) parse(s string) (p parsed, ok bool) {
	p.qi = -1
	if s == "" {
		return p, false
	}
	rest := s
	numbered := false // the question is named by a number alone
	num := 0
	switch {
	case startsCau(s) > 0:
		rest = strings.TrimLeft(s[startsCau(s):], " ")
		rest = strings.TrimLeft(strings.TrimPrefix(rest, "#"), " ")
		p.strong = true
		if letters, n, suffix, k, ok := splitCode(rest); ok && r.prefixes[strings.ToUpper(letters)] {
			p.qi = r.lookup(letters, n, suffix)
			p.code = rest[:k]
			rest = rest[k:]
		} else if k := digits(rest); k > 0 {
			numbered, num = true, atoi(rest[:k])
			p.code = strings.TrimRight(s[:len(s)-len(rest)+k], " ")
			rest = rest[k:]
		} else {
			return p, false
		}
	case s[0] == '#':
		rest = strings.TrimLeft(s[1:], " ")
		k := digits(rest)
		if k == 0 {
			return p, false
		}
		p.strong, numbered, num = true, true, atoi(rest[:k])
		p.code = "#" + rest[:k]
		rest = rest[k:]
	case isASCIILetter(s[0]):
		letters, n, suffix, k, ok := splitCode(s)
		if !ok || !r.prefixes[strings.ToUpper(letters)] {
			return p, false
		}
		p.strong = true
		p.qi = r.lookup(letters, n, suffix)
		p.code = s[:k]
		rest = s[k:]
	case isDigit(s[0]):
		k := digits(s)
		if k == 0 || followsWord(s, k) {
			return p, false
		}
		numbered, num = true, atoi(s[:k])
		p.code = s[:k]
		rest = s[k:]
		// Weak form: "1. 8", "1) b", "1: b".
		if rest == "" {
			return p, false
		}
		switch rest[0] {
		case ')':
		case '.', ':':
			if len(rest) > 1 && rest[1] != ' ' {
				return p, false
			}
		default:
			return p, false
		}
		p.value = strings.TrimSpace(rest[1:])
		if p.value == "" {
			return p, false
		}
		if qi, ok := r.byNum[num]; ok {
			p.qi = qi
		} else {
			return p, false // a numbered line that is not about a question
		}
		return p, true
	default:
		return p, false
	}
	if numbered {
		if qi, ok := r.byNum[num]; ok {
			p.qi = qi
		}
	}
	// Strong form: optional "[...]", then a separator.
	rest = strings.TrimLeft(rest, " ")
	bracket := false
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return p, false
		}
		bracket = true
		rest = strings.TrimLeft(rest[end+1:], " ")
	}
	sep := 0
	for sep < len(rest) {
		c, size := utf8.DecodeRuneInString(rest[sep:])
		if !strings.ContainsRune(":=-–—.)>", c) {
			break
		}
		sep += size
	}
	if sep == 0 && !bracket && rest != "" {
		return p, false
	}
	if sep == 0 && !bracket && rest == "" {
		return p, false // a bare "C1"
	}
	p.value = strings.TrimSpace(rest[sep:])
	return p, true
}

// startsCau returns the length of a leading "Câu", "Câu hỏi" or "Câu số"
// (any case, with or without diacritics), or 0.
func startsCau(s string) int {
	if s == "" || s[0] != 'C' && s[0] != 'c' {
		return 0
	}
	w, n := leadingWord(s)
	if n == 0 || fold(w) != "cau" {
		return 0
	}
	rest := strings.TrimLeft(s[n:], " ")
	if w2, n2 := leadingWord(rest); n2 > 0 {
		if f := fold(w2); f == "hoi" || f == "so" {
			return len(s) - len(rest) + n2
		}
	}
	return n
}

func leadingWord(s string) (string, int) {
	n := 0
	for n < len(s) {
		r, size := utf8.DecodeRuneInString(s[n:])
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Mn, r) {
			break
		}
		n += size
	}
	return s[:n], n
}

func digits(s string) int {
	k := 0
	for k < len(s) && k < 4 && isDigit(s[k]) {
		k++
	}
	if k > 3 {
		return 0
	}
	return k
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// lookup finds the question with the code, comparing letters and suffix
// without case and the number as a number ("c01" is C1).
func (r *reader) lookup(letters string, num int, suffix string) int {
	letters, suffix = strings.ToUpper(letters), strings.ToLower(suffix)
	for i, in := range r.qs {
		if in.num == num && in.letters == letters && in.suffix == suffix {
			return i
		}
	}
	return -1
}

// attempt is one answer line for one question.
type attempt struct {
	qi    int
	src   Source
	depth int
	line  string
	key   string // identity for conflicts: the canonical value, or what was written
	value string // canonical, when valid
	ok    bool
	kind  ProblemKind
	got   string
	msg   string
}

// check validates a value for question qi.
func (r *reader) check(qi int, v string) attempt {
	in := r.qs[qi]
	a := attempt{qi: qi, got: shorten(v)}
	switch in.q.Type {
	case store.AnswerScale:
		n, kind := parseScale(v)
		switch {
		case kind != "":
			a.kind = kind
			a.msg = fmt.Sprintf("“%s” không phải là một số nguyên từ %d đến %d", a.got, in.q.Min, in.q.Max)
		case n < in.q.Min || n > in.q.Max:
			a.kind = ProblemOutOfRange
			a.got = strconv.Itoa(n)
			a.msg = fmt.Sprintf("giá trị %d ngoài thang %d–%d", n, in.q.Min, in.q.Max)
		default:
			a.ok, a.value = true, strconv.Itoa(n)
		}
	case store.AnswerChoice:
		letter, msg := r.parseChoice(in, v)
		if msg != "" {
			a.kind, a.msg = ProblemBadChoice, msg
		} else {
			a.ok, a.value = true, letter
		}
	default:
		a.ok, a.value = true, strings.Join(strings.Fields(v), " ")
	}
	if a.ok {
		a.key = "=" + a.value
	} else {
		a.key = "!" + fold(v)
	}
	return a
}

// parseScale reads the integer a scale answer starts with: "8", "8 điểm",
// "8/10", "(8)". A decimal, a range or no number is not_a_number.
func parseScale(v string) (int, ProblemKind) {
	v = strings.TrimLeft(v, " ([{\"'“‘«<*")
	i := 0
	if i < len(v) && (v[i] == '+' || v[i] == '-') {
		i++
	}
	j := i
	for j < len(v) && isDigit(v[j]) {
		j++
	}
	if j == i {
		return 0, ProblemNotANumber
	}
	if j-i > 6 {
		return 1 << 30, ""
	}
	n, _ := strconv.Atoi(v[:j])
	rest := v[j:]
	// "8,5", "8.5": not an integer; "7-8", "7–8": a range.
	for _, sep := range []string{".", ",", "-", "–", "—"} {
		if strings.HasPrefix(rest, sep) && len(rest) > len(sep) && isDigit(rest[len(sep)]) {
			return 0, ProblemNotANumber
		}
		if t := strings.TrimLeft(rest, " "); (sep == "-" || sep == "–") && strings.HasPrefix(t, sep) {
			if u := strings.TrimLeft(t[len(sep):], " "); u != "" && isDigit(u[0]) {
				return 0, ProblemNotANumber
			}
		}
	}
	// "8 hoặc 9": two answers.
	f := " " + fold(rest) + " "
	for _, w := range []string{" hoac ", " or ", " den ", " toi "} {
		if k := strings.Index(f, w); k >= 0 {
			if t := f[k+len(w):]; t != "" && isDigit(t[0]) {
				return 0, ProblemNotANumber
			}
		}
	}
	return n, ""
}

// parseChoice reads a choice: "B", "b.", "(B)", "B. Hợp lý", "Hợp lý".
func (r *reader) parseChoice(in qinfo, v string) (string, string) {
	only := fmt.Sprintf("chỉ chọn một trong %s", in.letterOK)
	f := fold(v)
	if f == "" {
		return "", only
	}
	for i, cf := range in.cfold {
		if cf != "" && f == cf {
			return in.choices[i], ""
		}
	}
	t := strings.TrimLeft(v, " ([{\"'“‘«<*")
	if t == "" || !isASCIILetter(t[0]) || followsWord(t, 1) {
		return "", fmt.Sprintf("“%s” không phải một lựa chọn; %s", shorten(v), only)
	}
	letter := strings.ToUpper(t[:1])
	idx := -1
	for i, c := range in.choices {
		if c == letter {
			idx = i
		}
	}
	if idx < 0 {
		return "", fmt.Sprintf("không có lựa chọn %s; %s", letter, only)
	}
	rest := strings.TrimLeft(t[1:], " )]}\"'”’».:-–—,;*>")
	fr := fold(rest)
	if fr == "" || fr == in.cfold[idx] || strings.HasPrefix(in.cfold[idx], fr+" ") || strings.HasPrefix(fr, in.cfold[idx]+" ") {
		return letter, ""
	}
	for i, cf := range in.cfold {
		if i != idx && cf != "" && fr == cf {
			return "", fmt.Sprintf("chữ %s không khớp với “%s”; %s", letter, shorten(rest), only)
		}
	}
	// "B, C", "B hoặc C": several letters.
	for _, w := range strings.FieldsFunc(rest, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(w) == 1 && isASCIILetter(w[0]) {
			for _, c := range in.choices {
				if c == strings.ToUpper(w) {
					return "", only
				}
			}
		}
	}
	return letter, ""
}

// shorten cuts what was written for a message.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= 40 {
		return s
	}
	return string([]rune(s)[:40]) + "…"
}

// isSeparator reports whether a line is a rule: "-----", "=====", "___".
func isSeparator(s string) bool {
	if s == "--" || s == "-- " {
		return true
	}
	if utf8.RuneCountInString(s) < 3 {
		return false
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsPunct(r) && !unicode.IsSymbol(r) {
			return false
		}
	}
	return true
}

// isPlaceholder reports whether a value is only punctuation or symbols:
// "...", "___", "?", "-".
func isPlaceholder(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		if r != ' ' && !unicode.IsPunct(r) && !unicode.IsSymbol(r) {
			return false
		}
	}
	return true
}

// mentionsExample reports whether a line talks about an example.
func mentionsExample(s string) bool {
	if !strings.ContainsAny(s, "vV") {
		return false
	}
	f := " " + fold(s) + " "
	return strings.Contains(f, " vi du ")
}

// endsWithExample reports whether a line ends by introducing an example:
// "... ví dụ:".
func endsWithExample(s string) bool {
	if !strings.ContainsAny(s, "vV") {
		return false
	}
	f := " " + fold(s)
	return strings.HasSuffix(f, " vi du")
}

// isHeading reports whether value is the question's own text: the heading
// line "C1. Công tác chỉ đạo..." of a quoted or copied form.
func (r *reader) isHeading(qi int, value string) bool {
	ft := r.qs[qi].fold
	if ft == "" {
		return false
	}
	fv := fold(value)
	if fv == "" {
		return false
	}
	if fv == ft {
		return true
	}
	if len(fv) >= 10 && strings.HasPrefix(ft, fv+" ") {
		return true
	}
	return strings.HasPrefix(fv, ft+" ")
}

// accepted decides whether a parsed line is an answer attempt, and returns
// it checked. A weak, numbered line is an attempt only when it looks like
// one; in the quoted part only when it is valid.
func (r *reader) accepted(p parsed, src Source) (attempt, bool) {
	if p.qi < 0 || p.value == "" {
		return attempt{}, false
	}
	if r.isHeading(p.qi, p.value) {
		return attempt{}, false
	}
	a := r.check(p.qi, p.value)
	if p.strong {
		return a, true
	}
	typ := r.qs[p.qi].q.Type
	if src == SourceQuoted {
		return a, a.ok && typ != store.AnswerText
	}
	switch typ {
	case store.AnswerScale:
		t := strings.TrimLeft(p.value, " ([{\"'“‘«<*+-")
		return a, a.ok || (t != "" && isDigit(t[0]))
	case store.AnswerChoice:
		t := strings.TrimLeft(p.value, " ([{\"'“‘«<*")
		return a, a.ok || (t != "" && isASCIILetter(t[0]) && !followsWord(t, 1))
	}
	return a, true
}

// scan reads one part.
func (r *reader) scan(part string, src Source, atts *[]attempt, unknown *[]Problem) {
	if strings.TrimSpace(part) == "" {
		return
	}
	quoted := src == SourceQuoted
	lines := splitLines(part)
	prevExample := false // the previous non-blank line ends in "ví dụ:"
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l.blank() {
			continue
		}
		afterExample := prevExample
		prevExample = endsWithExample(l.text)
		p, ok := r.parse(l.text)
		if !ok {
			continue
		}
		if afterExample || quoted && l.indent >= 4 {
			continue // the instructions' example
		}
		if isPlaceholder(p.value) {
			p.value = "" // "C1: ...", "C1: ___", "C1: ?": not answered
		}
		isText := p.qi >= 0 && r.qs[p.qi].q.Type == store.AnswerText
		if quoted && !isText && mentionsExample(l.text) {
			continue
		}
		if p.qi < 0 {
			if p.strong && p.value != "" && !(quoted && mentionsExample(l.text)) {
				addUnknown(unknown, p.code)
			}
			continue
		}
		if p.value == "" {
			// The answer template: the answer may be on the next line.
			if !p.strong || i+1 >= len(lines) {
				continue
			}
			next := lines[i+1]
			if next.blank() || next.depth != l.depth || isSeparator(next.text) || (quoted && (next.indent >= 4 || mentionsExample(next.text))) {
				continue
			}
			if _, isLine := r.parse(next.text); isLine {
				continue
			}
			typ := r.qs[p.qi].q.Type
			if typ == store.AnswerText {
				if quoted {
					continue
				}
				p.value = next.text
			} else {
				a := r.check(p.qi, next.text)
				if !a.ok || utf8.RuneCountInString(next.text) > 30 {
					continue
				}
				p.value = next.text
			}
			l.raw += "\n" + next.raw
			i++
		}
		a, ok := r.accepted(p, src)
		if !ok {
			continue
		}
		a.src, a.depth, a.line = src, l.depth, l.raw
		if r.qs[p.qi].q.Type == store.AnswerText {
			// Continuation lines, up to a blank line or the next answer.
			text := []string{p.value}
			j := i + 1
			for ; j < len(lines); j++ {
				n := lines[j]
				if n.blank() || n.depth != l.depth || isSeparator(n.text) {
					break
				}
				if quoted && mentionsExample(n.text) {
					break
				}
				if np, isLine := r.parse(n.text); isLine {
					if np.strong || np.value == "" {
						break
					}
					if _, ok := r.accepted(np, src); ok {
						break
					}
				}
				text = append(text, n.text)
			}
			i = j - 1
			a = r.check(p.qi, strings.Join(text, " "))
			a.src, a.depth, a.line = src, l.depth, l.raw
		}
		*atts = append(*atts, a)
	}
}

func addUnknown(unknown *[]Problem, code string) {
	code = strings.Join(strings.Fields(code), " ")
	if len(*unknown) >= 20 {
		return // enough to tell the person to check the codes
	}
	for _, p := range *unknown {
		if strings.EqualFold(p.Code, code) {
			return
		}
	}
	msg := fmt.Sprintf("phiếu không có câu %s; xin kiểm tra lại mã câu hỏi", code)
	if startsCau(code) > 0 || strings.HasPrefix(code, "#") {
		msg = fmt.Sprintf("không xác định được “%s” là câu nào; xin ghi mã câu hỏi như trong phiếu", code)
	}
	*unknown = append(*unknown, Problem{Code: code, Kind: ProblemUnknownQuestion, Got: code, Message: msg})
}

// decide applies precedence and validation per question.
func (r *reader) decide(atts []attempt, unknown []Problem) Result {
	var res Result
	per := make([][]attempt, len(r.qs))
	for _, a := range atts {
		per[a.qi] = append(per[a.qi], a)
	}
	for qi, in := range r.qs {
		list := per[qi]
		// A visible answer wins; in the quoted part, the shallowest.
		var chosen []attempt
		for _, a := range list {
			if a.src == SourceVisible {
				chosen = append(chosen, a)
			}
		}
		if len(chosen) == 0 && len(list) > 0 {
			minDepth := list[0].depth
			for _, a := range list {
				minDepth = min(minDepth, a.depth)
			}
			for _, a := range list {
				if a.depth == minDepth {
					chosen = append(chosen, a)
				}
			}
		}
		if len(chosen) == 0 {
			if in.q.Required {
				res.Problems = append(res.Problems, Problem{Code: in.q.Code, Kind: ProblemMissing, Message: "chưa trả lời"})
			}
			continue
		}
		var distinct []attempt
		keys := map[string]bool{}
		for _, a := range chosen {
			if !keys[a.key] {
				keys[a.key] = true
				distinct = append(distinct, a)
			}
		}
		if len(distinct) > 1 {
			shown := distinct[:min(len(distinct), 5)]
			vals := make([]string, len(shown))
			for i, d := range shown {
				if d.ok {
					vals[i] = shorten(d.value)
				} else {
					vals[i] = d.got
				}
			}
			got := strings.Join(vals, "; ")
			if len(distinct) > len(shown) {
				got += "; …"
			}
			res.Problems = append(res.Problems, Problem{Code: in.q.Code, Kind: ProblemConflict, Got: got,
				Message: fmt.Sprintf("có %d câu trả lời khác nhau (%s); chỉ ghi một", len(distinct), got)})
			continue
		}
		a := distinct[0]
		if !a.ok {
			res.Problems = append(res.Problems, Problem{Code: in.q.Code, Kind: a.kind, Got: a.got, Message: a.msg})
			continue
		}
		res.Answers = append(res.Answers, Answer{Code: in.q.Code, Value: a.value, Source: a.src, Line: a.line})
	}
	res.Problems = append(res.Problems, unknown...)
	res.Complete = len(res.Problems) == 0
	if res.Complete {
		for _, in := range r.qs {
			if in.q.Required && !hasAnswer(res.Answers, in.q.Code) {
				res.Complete = false
			}
		}
	}
	return res
}

func hasAnswer(as []Answer, code string) bool {
	for _, a := range as {
		if a.Code == code {
			return true
		}
	}
	return false
}
