package answers

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/phieu/phieu/store"
	"github.com/phieu/phieu/store/vn"
	"github.com/phieu/phieu/templates"
)

// golden is the questionnaire of templates/testdata/invitation.golden.
func golden() store.Questionnaire {
	return store.Questionnaire{
		Title: "Phiếu khảo sát chỉ số cải cách hành chính",
		Questions: []store.Question{
			{Code: "C1", Text: "Công tác chỉ đạo, điều hành cải cách hành chính của tỉnh được thực hiện quyết liệt, hiệu quả", Type: store.AnswerScale, Min: 1, Max: 10, Required: true},
			{Code: "C2", Text: "Việc sắp xếp tổ chức bộ máy sau hợp nhất đơn vị hành chính", Type: store.AnswerChoice, Required: true,
				Choices: []store.Choice{{Letter: "A", Text: "Rất hợp lý"}, {Letter: "B", Text: "Hợp lý"}, {Letter: "C", Text: "Chưa hợp lý"}, {Letter: "D", Text: "Không có ý kiến"}}},
			{Code: "C3", Text: "Ý kiến khác để nâng cao chất lượng cải cách hành chính", Type: store.AnswerText},
		},
	}
}

// seven is a longer questionnaire: C1..C7.
func seven() store.Questionnaire {
	abcd := []store.Choice{{Letter: "A", Text: "Rất hợp lý"}, {Letter: "B", Text: "Hợp lý"}, {Letter: "C", Text: "Chưa hợp lý"}, {Letter: "D", Text: "Không có ý kiến"}}
	return store.Questionnaire{
		Title: "Khảo sát",
		Questions: []store.Question{
			{Code: "C1", Text: "Mức độ hài lòng chung", Type: store.AnswerScale, Min: 1, Max: 10, Required: true},
			{Code: "C2", Text: "Thủ tục được công khai đầy đủ", Type: store.AnswerScale, Min: 1, Max: 5},
			{Code: "C3", Text: "Việc sắp xếp tổ chức bộ máy", Type: store.AnswerChoice, Required: true, Choices: abcd},
			{Code: "C4", Text: "Đánh giá việc số hóa hồ sơ", Type: store.AnswerChoice, Choices: abcd},
			{Code: "C5", Text: "Tỷ lệ hồ sơ trực tuyến ước tính", Type: store.AnswerScale, Min: 0, Max: 100},
			{Code: "C6", Text: "Khó khăn chính", Type: store.AnswerText},
			{Code: "C7", Text: "Ý kiến khác", Type: store.AnswerText, Required: true},
		},
	}
}

// goldenText is the text part of the invitation golden file.
func goldenText(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../templates/testdata/" + name + ".golden")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "=== text\n")
	j := strings.Index(s, "=== html\n")
	if i < 0 || j < i {
		t.Fatalf("%s: no text part", name)
	}
	return strings.TrimRight(s[i+len("=== text\n"):j], "\n")
}

// quote prefixes every line with marker, as a mail client quotes.
func quote(s, marker string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l == "" {
			lines[i] = strings.TrimRight(marker, " ")
		} else {
			lines[i] = marker + l
		}
	}
	return strings.Join(lines, "\n")
}

// fill types answers into a form: "C1 [1-10]:" -> "C1 [1-10]: 8".
func fill(s string, answers map[string]string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		for line, v := range answers {
			if strings.HasSuffix(l, line) && !strings.HasPrefix(strings.TrimLeft(l, "> "), " ") {
				lines[i] = l + " " + v
			}
		}
	}
	return strings.Join(lines, "\n")
}

func summary(r Result) (answers, problems []string) {
	for _, a := range r.Answers {
		answers = append(answers, a.Code+"="+a.Value)
	}
	for _, p := range r.Problems {
		problems = append(problems, p.Code+":"+string(p.Kind))
	}
	return
}

func check(t *testing.T, r Result, wantAnswers, wantProblems []string) {
	t.Helper()
	a, p := summary(r)
	if !reflect.DeepEqual(a, wantAnswers) {
		t.Errorf("answers = %q, want %q", a, wantAnswers)
	}
	if !reflect.DeepEqual(p, wantProblems) {
		t.Errorf("problems = %q, want %q", p, wantProblems)
		for _, pr := range r.Problems {
			t.Logf("  %s %s got %q: %s", pr.Code, pr.Kind, pr.Got, pr.Message)
		}
	}
}

func TestFormats(t *testing.T) {
	q := seven()
	tests := []struct {
		name    string
		visible string
		want    []string // answers, "C1=8"
		probs   []string // problems besides the missing required ones
	}{
		{"colon", "C1: 8", []string{"C1=8"}, nil},
		{"template", "C1 [1-10]: 8", []string{"C1=8"}, nil},
		{"template no space", "C1 [1-10]:8", []string{"C1=8"}, nil},
		{"equals", "C1 = 8", []string{"C1=8"}, nil},
		{"lower dash", "c1 - 8", []string{"C1=8"}, nil},
		{"en dash", "C1 – 8", []string{"C1=8"}, nil},
		{"arrow", "C1 => 8", []string{"C1=8"}, nil},
		{"dot", "C1. 8", []string{"C1=8"}, nil},
		{"paren", "C1) 8", []string{"C1=8"}, nil},
		{"leading zero", "C01: 8", []string{"C1=8"}, nil},
		{"space in code", "C 1: 8", []string{"C1=8"}, nil},
		{"bracket no colon", "C1 [1-10] 8", []string{"C1=8"}, nil},
		{"cau", "Câu 1: 8", []string{"C1=8"}, nil},
		{"cau hoi", "Câu hỏi 1: 8", []string{"C1=8"}, nil},
		{"cau so", "câu số 1: 8", []string{"C1=8"}, nil},
		{"cau no diacritics", "Cau 1: 8", []string{"C1=8"}, nil},
		{"cau upper", "CÂU 1 - 8", []string{"C1=8"}, nil},
		{"cau code", "Câu C1: 8", []string{"C1=8"}, nil},
		{"hash", "#1: 8", []string{"C1=8"}, nil},
		{"number dot", "1. 8", []string{"C1=8"}, nil},
		{"number paren", "3) b", []string{"C3=B"}, nil},
		{"number colon", "3: b", []string{"C3=B"}, nil},
		{"diem", "C1: 8 điểm", []string{"C1=8"}, nil},
		{"over ten", "C1: 8/10", []string{"C1=8"}, nil},
		{"paren value", "C1: (8)", []string{"C1=8"}, nil},
		{"trailing dot", "C1: 8.", []string{"C1=8"}, nil},
		{"choice", "C3: B", []string{"C3=B"}, nil},
		{"choice lower dot", "C3: b.", []string{"C3=B"}, nil},
		{"choice paren", "C3: (B)", []string{"C3=B"}, nil},
		{"choice bracket", "C3: [b]", []string{"C3=B"}, nil},
		{"choice with text", "C3: B. Hợp lý", []string{"C3=B"}, nil},
		{"choice with dash text", "C3: B – Hợp lý", []string{"C3=B"}, nil},
		{"choice text", "C3: Hợp lý", []string{"C3=B"}, nil},
		{"choice text folded", "C3: HOP LY", []string{"C3=B"}, nil},
		{"choice text lower", "C3: chưa hợp lý", []string{"C3=C"}, nil},
		{"choice polite", "C3: B ạ", []string{"C3=B"}, nil},
		{"choice reason", "C3: B vì đã hợp nhất xong", []string{"C3=B"}, nil},
		{"choice template", "C3 [A/B/C/D]: d", []string{"C3=D"}, nil},
		{"text", "C7 [ý kiến]: Đề nghị số hóa hồ sơ.", []string{"C7=Đề nghị số hóa hồ sơ."}, nil},
		{"text colon inside", "C7: Ý kiến: cần giảm giấy tờ", []string{"C7=Ý kiến: cần giảm giấy tờ"}, nil},
		{"bullet dash", "- C1: 8", []string{"C1=8"}, nil},
		{"bullet star", "* C1: 8", []string{"C1=8"}, nil},
		{"bullet dot", "• C1: 8", []string{"C1=8"}, nil},
		{"tabs", "\tC1\t:\t8\t", []string{"C1=8"}, nil},
		{"nbsp", "C1\u00a0:\u00a08", []string{"C1=8"}, nil},
		{"zero width", "\ufeffC1:\u200b 8", []string{"C1=8"}, nil},
		{"odd spacing", "   C1   [ 1-10 ]   :    8   ", []string{"C1=8"}, nil},
		{"crlf", "C1: 8\r\nC3: B\r\n", []string{"C1=8", "C3=B"}, nil},
		{"full-width", "Ｃ１：８", []string{"C1=8"}, nil},
		{"full-width template", "Ｃ３ ［Ａ/Ｂ/Ｃ/Ｄ］：ｂ", []string{"C3=B"}, nil},
		{"full-width hash", "＃１： ８", []string{"C1=8"}, nil},
		{"full-width space", "C1\u3000：\u30008", []string{"C1=8"}, nil},
		{"nfd", norm.NFD.String("Câu 3: Chưa hợp lý"), []string{"C3=C"}, nil},
		{"all", "C1: 8\nC2: 4\nC3: B\nC4: A\nC5: 75\nC6: Thiếu người\nC7: Không", []string{"C1=8", "C2=4", "C3=B", "C4=A", "C5=75", "C6=Thiếu người", "C7=Không"}, nil},
		{"zero allowed", "C5: 0", []string{"C5=0"}, nil},
		{"same twice", "C1: 8\nC1 [1-10]: 8", []string{"C1=8"}, nil},
		{"choice same twice", "C3: B\nC3: Hợp lý", []string{"C3=B"}, nil},

		{"out of range", "C1: 12", nil, []string{"C1:out_of_range"}},
		{"below range", "C1: 0", nil, []string{"C1:out_of_range"}},
		{"huge", "C1: 99999999999", nil, []string{"C1:out_of_range"}},
		{"decimal", "C1: 8,5", nil, []string{"C1:not_a_number"}},
		{"range", "C1: 7-8", nil, []string{"C1:not_a_number"}},
		{"or", "C1: 7 hoặc 8", nil, []string{"C1:not_a_number"}},
		{"words", "C1: tám", nil, []string{"C1:not_a_number"}},
		{"bad letter", "C3: E", nil, []string{"C3:bad_choice"}},
		{"two letters", "C3: B, C", nil, []string{"C3:bad_choice"}},
		{"two letters or", "C3: B hoặc C", nil, []string{"C3:bad_choice"}},
		{"letter text mismatch", "C3: B. Rất hợp lý", nil, []string{"C3:bad_choice"}},
		{"unknown text", "C3: tùy", nil, []string{"C3:bad_choice"}},
		{"conflict", "C1: 8\nC1: 9", nil, []string{"C1:conflict"}},
		{"conflict valid invalid", "C1: 8\nC1: 12", nil, []string{"C1:conflict"}},
		{"conflict number and code", "C3: B\n3. C", nil, []string{"C3:conflict"}},
		{"unknown", "C99: 5", nil, []string{"C99:unknown_question"}},
		{"unknown suffix", "C1a: 5", nil, []string{"C1a:unknown_question"}},
		{"unknown cau", "Câu 9: 5", nil, []string{"Câu 9:unknown_question"}},
		{"unknown once", "C99: 5\nc99: 6", nil, []string{"C99:unknown_question"}},
		{"weak out of range", "1. 15", nil, []string{"C1:out_of_range"}},
		{"weak bad letter", "3) E", nil, []string{"C3:bad_choice"}},

		{"empty template", "C1 [1-10]:", nil, nil},
		{"empty colon", "C1:", nil, nil},
		{"placeholder dots", "C1 [1-10]: ...", nil, nil},
		{"placeholder underscores", "C3 [A/B/C/D]: ____", nil, nil},
		{"placeholder question mark", "C1: ?", nil, nil},
		{"example in visible", "Ghi như sau, ví dụ:\nC1 [1-10]: 8", nil, nil},
		{"after example in visible", "Ghi như sau, ví dụ:\nC1 [1-10]: 8\nC1: 9", []string{"C1=9"}, nil},
		{"bare code", "C1", nil, nil},
		{"prose mentions code", "C1 và C3 tôi chưa rõ", nil, nil},
		{"prose numbered", "Tôi có ý kiến:\n1. Tăng cường kiểm tra\n2. Giảm giấy tờ", nil, nil},
		{"date", "27/02/2023 tôi đã gửi", nil, nil},
		{"time", "8:00 sáng mai", nil, nil},
		{"year list", "2023. Năm nay", nil, nil},
		{"decimal line", "1.5 triệu", nil, nil},
		{"other prefix", "X1: 5\nKS-7F3A9CQ2XM\nTel: 0912 345 678\nP3: 5", nil, nil},
		{"cam on", "Cảm ơn anh/chị", nil, nil},
		{"cau prose", "Câu trả lời của tôi như sau", nil, nil},
		{"heading only", "C1. Mức độ hài lòng chung", nil, nil},
		{"heading text question", "C7. Ý kiến khác", nil, nil},
	}
	required := map[string]bool{"C1": true, "C3": true, "C7": true}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Read(tt.visible, "", q)
			var probs []string
			have := map[string]bool{}
			for _, a := range tt.want {
				have[strings.SplitN(a, "=", 2)[0]] = true
			}
			for _, p := range tt.probs {
				have[strings.SplitN(p, ":", 2)[0]] = true
			}
			for _, qu := range q.Questions {
				if required[qu.Code] && !have[qu.Code] {
					probs = append(probs, qu.Code+":missing")
				}
				for _, p := range tt.probs {
					if strings.HasPrefix(p, qu.Code+":") {
						probs = append(probs, p)
					}
				}
			}
			for _, p := range tt.probs {
				if strings.HasSuffix(p, ":unknown_question") {
					probs = append(probs, p)
				}
			}
			check(t, r, tt.want, probs)
			for _, a := range r.Answers {
				if a.Source != SourceVisible || a.Line == "" {
					t.Errorf("answer %+v: want visible source and a line", a)
				}
			}
			for _, p := range r.Problems {
				if p.Message == "" || !norm.NFC.IsNormalString(p.Message) {
					t.Errorf("problem %+v: want an NFC message", p)
				}
			}
		})
	}
}

func TestMessages(t *testing.T) {
	q := golden()
	tests := []struct{ visible, code, want string }{
		{"C1: 12", "C1", "giá trị 12 ngoài thang 1–10"},
		{"", "C1", "chưa trả lời"},
		{"C1: tám", "C1", "“tám” không phải là một số nguyên từ 1 đến 10"},
		{"C2: B, C", "C2", "chỉ chọn một trong A, B, C, D"},
		{"C2: E", "C2", "không có lựa chọn E; chỉ chọn một trong A, B, C, D"},
		{"C1: 8\nC1: 9", "C1", "có 2 câu trả lời khác nhau (8; 9); chỉ ghi một"},
		{"C9: 1", "C9", "phiếu không có câu C9; xin kiểm tra lại mã câu hỏi"},
	}
	for _, tt := range tests {
		r := Read(tt.visible, "", q)
		found := false
		for _, p := range r.Problems {
			if p.Code == tt.code {
				found = true
				if p.Message != tt.want {
					t.Errorf("Read(%q) %s: message %q, want %q", tt.visible, tt.code, p.Message, tt.want)
				}
			}
		}
		if !found {
			t.Errorf("Read(%q): no problem for %s: %+v", tt.visible, tt.code, r.Problems)
		}
	}
}

func TestTextContinuation(t *testing.T) {
	q := seven()
	tests := []struct {
		name, visible string
		want          []string
	}{
		{"to blank", "C7: Đề nghị tăng cường\nsố hóa hồ sơ\n\nTrân trọng,\nAn", []string{"C7=Đề nghị tăng cường số hóa hồ sơ"}},
		{"to next answer", "C6: Thiếu người\nvà thiếu máy\nC7: Không", []string{"C6=Thiếu người và thiếu máy", "C7=Không"}},
		{"to next template", "C6: Thiếu người\nC7 [ý kiến]:", []string{"C6=Thiếu người"}},
		{"to weak answer", "C7: Không có\n1. 8", []string{"C1=8", "C7=Không có"}},
		{"numbered list kept", "C7: Tôi đề nghị:\n1. Tăng cường kiểm tra\n2. Giảm giấy tờ", []string{"C7=Tôi đề nghị: 1. Tăng cường kiểm tra 2. Giảm giấy tờ"}},
		{"to separator", "C7: Không\n-----\nC1: 8", []string{"C1=8", "C7=Không"}},
		{"next line", "C7 [ý kiến]:\nĐề nghị giảm giấy tờ\n\nC1: 8", []string{"C1=8", "C7=Đề nghị giảm giấy tờ"}},
		{"indented continuation", "C7: Đề nghị tăng cường số hóa hồ sơ, giảm giấy tờ khi giải quyết thủ tục\n    hành chính.", []string{"C7=Đề nghị tăng cường số hóa hồ sơ, giảm giấy tờ khi giải quyết thủ tục hành chính."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := summary(Read(tt.visible, "", q))
			if !reflect.DeepEqual(a, tt.want) {
				t.Errorf("answers = %q, want %q", a, tt.want)
			}
		})
	}
}

func TestNextLineValue(t *testing.T) {
	q := golden()
	r := Read("C1 [1-10]:\n8\nC2 [A/B/C/D]:\nb\n", "", q)
	check(t, r, []string{"C1=8", "C2=B"}, nil)
	if r.Answers[0].Line != "C1 [1-10]:\n8" {
		t.Errorf("line %q", r.Answers[0].Line)
	}
	if !r.Complete {
		t.Error("want complete")
	}
	// A long line after an empty template is not its value.
	r = Read("C1 [1-10]:\n8 là điểm tôi muốn cho nhưng còn phân vân nhiều", "", q)
	check(t, r, nil, []string{"C1:missing", "C2:missing"})
}

func TestQuotedInvitation(t *testing.T) {
	q := golden()
	inv := goldenText(t, "invitation")
	if !strings.Contains(inv, "       C1 [1-10]: 8") {
		t.Fatal("the golden invitation no longer shows the example line")
	}
	for _, marker := range []string{"> ", ">", "> > ", ">> "} {
		t.Run("untouched "+marker, func(t *testing.T) {
			// Nothing typed: the example, the headings and the numbered
			// instructions are not answers.
			r := Read("Cảm ơn.", quote(inv, marker), q)
			check(t, r, nil, []string{"C1:missing", "C2:missing"})
			if r.Complete {
				t.Error("complete")
			}
		})
		t.Run("filled "+marker, func(t *testing.T) {
			quoted := quote(fill(inv, map[string]string{"C1 [1-10]:": "7", "C2 [A/B/C/D]:": "b", "C3 [ý kiến]:": "Đề nghị giảm giấy tờ"}), marker)
			r := Read("", quoted, q)
			check(t, r, []string{"C1=7", "C2=B", "C3=Đề nghị giảm giấy tờ"}, nil)
			if !r.Complete {
				t.Error("not complete")
			}
			for _, a := range r.Answers {
				if a.Source != SourceQuoted {
					t.Errorf("%s: source %s", a.Code, a.Source)
				}
			}
		})
	}
	t.Run("outlook, no markers", func(t *testing.T) {
		r := Read("Kính gửi anh chị,\nTôi trả lời trong phiếu dưới.", inv, q)
		check(t, r, nil, []string{"C1:missing", "C2:missing"})
		r = Read("", fill(inv, map[string]string{"C1 [1-10]:": "9", "C2 [A/B/C/D]:": "Rất hợp lý"}), q)
		check(t, r, []string{"C1=9", "C2=A"}, nil)
	})
	t.Run("flattened example", func(t *testing.T) {
		// An HTML-to-text conversion may lose the example's indentation.
		flat := strings.Replace(inv, "       C1 [1-10]: 8", "C1 [1-10]: 8", 1)
		r := Read("", quote(flat, "> "), q)
		check(t, r, nil, []string{"C1:missing", "C2:missing"})
		r = Read("", quote("Ghi câu trả lời, ví dụ C1 [1-10]: 8 hoặc C2 [A/B/C/D]: B", "> "), q)
		check(t, r, nil, []string{"C1:missing", "C2:missing"})
		r = Read("", quote("C1 [1-10]: 8 (ví dụ)", "> "), q)
		check(t, r, nil, []string{"C1:missing", "C2:missing"})
	})
	t.Run("text answer mentioning ví dụ", func(t *testing.T) {
		quoted := quote(fill(inv, map[string]string{"C1 [1-10]:": "7", "C2 [A/B/C/D]:": "B", "C3 [ý kiến]:": "ví dụ như số hóa hồ sơ"}), "> ")
		r := Read("", quoted, q)
		check(t, r, []string{"C1=7", "C2=B", "C3=ví dụ như số hóa hồ sơ"}, nil)
	})
	t.Run("visible over quoted", func(t *testing.T) {
		quoted := quote(fill(inv, map[string]string{"C1 [1-10]:": "7", "C2 [A/B/C/D]:": "B"}), "> ")
		r := Read("C1: 9", quoted, q)
		check(t, r, []string{"C1=9", "C2=B"}, nil)
		if r.Answers[0].Source != SourceVisible || r.Answers[1].Source != SourceQuoted {
			t.Errorf("sources: %+v", r.Answers)
		}
		// An invalid visible answer still wins: it is the latest intent.
		r = Read("C1: 12", quoted, q)
		check(t, r, []string{"C2=B"}, []string{"C1:out_of_range"})
		// A copied, empty form in the visible part does not hide the
		// quoted answers.
		r = Read("C1 [1-10]:\n\nC2 [A/B/C/D]:", quoted, q)
		check(t, r, []string{"C1=7", "C2=B"}, nil)
	})
	t.Run("visible conflict does not look at quoted", func(t *testing.T) {
		quoted := quote(fill(inv, map[string]string{"C1 [1-10]:": "7"}), "> ")
		r := Read("C1: 8\nC1: 9\nC2: A", quoted, q)
		check(t, r, []string{"C2=A"}, []string{"C1:conflict"})
	})
	t.Run("quoted conflict", func(t *testing.T) {
		r := Read("", "> C1: 8\n> C1 [1-10]: 9\n> C2: B", q)
		check(t, r, []string{"C2=B"}, []string{"C1:conflict"})
	})
	t.Run("shallower quote wins", func(t *testing.T) {
		older := quote(fill(inv, map[string]string{"C1 [1-10]:": "12", "C2 [A/B/C/D]:": "B"}), "> ")
		newer := "> C1 [1-10]: 8\n>\n> Vào lúc 08:00, Ông An đã viết:\n" + quote(older, "> ")
		r := Read("", newer, q)
		check(t, r, []string{"C1=8", "C2=B"}, nil)
	})
	t.Run("weak forms in quote", func(t *testing.T) {
		r := Read("", "> 1. 8\n> 2. b\n> 3. Ông cần tự mình trả lời", q)
		check(t, r, []string{"C1=8", "C2=B"}, nil)
		r = Read("", "> 1. 15\n> 2. E", q)
		check(t, r, nil, []string{"C1:missing", "C2:missing"})
	})
}

func TestQuotedReceiptAndCorrection(t *testing.T) {
	q := golden()
	t.Run("reply to a correction", func(t *testing.T) {
		corr := goldenText(t, "correction")
		r := Read("", quote(corr, "> "), q)
		check(t, r, nil, []string{"C1:missing", "C2:missing"})
		r = Read("C1: 9\nC2: B", quote(corr, "> "), q)
		check(t, r, []string{"C1=9", "C2=B"}, nil)
		if !r.Complete {
			t.Error("not complete")
		}
	})
	t.Run("reply to a receipt", func(t *testing.T) {
		rec := goldenText(t, "receipt")
		// The receipt indents what it recorded, so quoting it back does not
		// re-answer: only the new line counts (the poller merges it with
		// the standing response).
		r := Read("C1: 9", quote(rec, "> "), q)
		check(t, r, []string{"C1=9"}, []string{"C2:missing"})
	})
	t.Run("reminders", func(t *testing.T) {
		for _, name := range []string{"reminder_round1", "reminder_round2", "reminder_round3", "reminder_last_day", "invitation_dong_chi", "invitation_every_tone_mark", "invitation_hostile_name", "invitation_long_unit", "invitation_no_title"} {
			r := Read("", quote(goldenText(t, name), "> "), q)
			if len(r.Answers) != 0 {
				t.Errorf("%s: answers %+v", name, r.Answers)
			}
			for _, p := range r.Problems {
				if p.Kind != ProblemMissing {
					t.Errorf("%s: problem %+v", name, p)
				}
			}
		}
	})
}

func TestNumberedNeedsUnambiguousCodes(t *testing.T) {
	ab := store.Questionnaire{Questions: []store.Question{
		{Code: "A1", Text: "Một", Type: store.AnswerScale, Min: 1, Max: 10},
		{Code: "B1", Text: "Hai", Type: store.AnswerScale, Min: 1, Max: 10},
	}}
	r := Read("1. 8\nCâu 1: 8\nA1: 5\nb1: 6", "", ab)
	check(t, r, []string{"A1=5", "B1=6"}, []string{"Câu 1:unknown_question"})

	sub := store.Questionnaire{Questions: []store.Question{
		{Code: "C1a", Text: "Một", Type: store.AnswerScale, Min: 1, Max: 10},
		{Code: "C1b", Text: "Hai", Type: store.AnswerScale, Min: 1, Max: 10},
		{Code: "C2", Text: "Ba", Type: store.AnswerScale, Min: 1, Max: 10},
	}}
	r = Read("c1a: 3\nC1B: 4\n2. 5\n1. 9", "", sub)
	check(t, r, []string{"C1a=3", "C1b=4", "C2=5"}, nil)
}

func TestComplete(t *testing.T) {
	q := seven()
	r := Read("C1: 8\nC3: B\nC7: Không", "", q)
	if !r.Complete {
		t.Errorf("required answered: not complete: %+v", r.Problems)
	}
	r = Read("C1: 8\nC3: B", "", q)
	if r.Complete {
		t.Error("C7 missing: complete")
	}
	r = Read("C1: 8\nC3: B\nC7: Không\nC2: 9", "", q)
	if r.Complete {
		t.Error("optional C2 out of range: complete")
	}
	r = Read("C1: 8\nC3: B\nC7: Không\nC99: 1", "", q)
	if r.Complete {
		t.Error("unknown question: complete")
	}
	r = Read("", "", q)
	if r.Complete || len(r.Problems) != 3 {
		t.Errorf("empty: %+v", r)
	}
}

func TestForReceiptAndCorrection(t *testing.T) {
	q := golden()
	r := Read("C1: 8\nC2: b\nC3: Đề nghị số hóa", "", q)
	got := r.ForReceipt(q)
	want := []templates.Answer{
		{Code: "C1", Text: "Công tác chỉ đạo, điều hành cải cách hành chính…", Value: "8"},
		{Code: "C2", Text: "Việc sắp xếp tổ chức bộ máy sau hợp nhất đơn vị…", Value: "B – Hợp lý"},
		{Code: "C3", Text: "Ý kiến khác để nâng cao chất lượng cải cách…", Value: "Đề nghị số hóa"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ForReceipt = %#v\nwant %#v", got, want)
	}
	r = Read("C1: 12\nC7: 3", "", q)
	gotP := r.ForCorrection(q)
	wantP := []templates.AnswerProblem{
		{Code: "C1", Text: "Công tác chỉ đạo, điều hành cải cách hành chính…", Problem: "giá trị 12 ngoài thang 1–10"},
		{Code: "C2", Text: "Việc sắp xếp tổ chức bộ máy sau hợp nhất đơn vị…", Problem: "chưa trả lời"},
		{Code: "C7", Text: "mã câu hỏi không có trong phiếu", Problem: "phiếu không có câu C7; xin kiểm tra lại mã câu hỏi"},
	}
	if !reflect.DeepEqual(gotP, wantP) {
		t.Errorf("ForCorrection = %#v\nwant %#v", gotP, wantP)
	}
	if s := ShortText("Ngắn (bắt buộc)"); s != "Ngắn" {
		t.Errorf("ShortText = %q", s)
	}
}

func FuzzRead(f *testing.F) {
	inv := goldenText(f, "invitation")
	f.Add("C1: 8\nC2: B\nC3: ý kiến", "")
	f.Add("", quote(inv, "> "))
	f.Add("Câu 1: 12\n2) e", quote(fill(inv, map[string]string{"C1 [1-10]:": "7"}), ">> "))
	f.Add("Ｃ１：８\n＃2： ｂ", "> C3 [ý kiến]: dòng một\n> dòng hai")
	f.Add("C1 [1-10]:\n8\nC3 [ý kiến]:\nabc", "")
	q := golden()
	f.Fuzz(func(t *testing.T, visible, quoted string) {
		r := Read(visible, quoted, q)
		seen := map[string]bool{}
		for _, a := range r.Answers {
			qu := q.Question(a.Code)
			if qu == nil || qu.Code != a.Code {
				t.Fatalf("answer for unknown code %q", a.Code)
			}
			if seen[a.Code] {
				t.Fatalf("two answers for %s", a.Code)
			}
			seen[a.Code] = true
			switch qu.Type {
			case store.AnswerScale:
				if n, kind := parseScale(a.Value); kind != "" || n < qu.Min || n > qu.Max {
					t.Fatalf("scale answer %q out of range", a.Value)
				}
			case store.AnswerChoice:
				if len(a.Value) != 1 || a.Value[0] < 'A' || a.Value[0] > 'D' {
					t.Fatalf("choice answer %q", a.Value)
				}
			case store.AnswerText:
				if a.Value == "" || strings.TrimSpace(a.Value) != a.Value {
					t.Fatalf("text answer %q", a.Value)
				}
			}
			if a.Source != SourceVisible && a.Source != SourceQuoted {
				t.Fatalf("source %q", a.Source)
			}
		}
		for _, p := range r.Problems {
			if p.Message == "" || p.Kind == "" {
				t.Fatalf("empty problem %+v", p)
			}
			if seen[p.Code] {
				t.Fatalf("%s is both answered and a problem", p.Code)
			}
		}
		if r.Complete && (len(r.Problems) > 0 || !seen["C1"] || !seen["C2"]) {
			t.Fatalf("complete with %+v", r)
		}
		_ = r.ForReceipt(q)
		_ = r.ForCorrection(q)
	})
}

func BenchmarkRead(b *testing.B) {
	q := golden()
	inv := goldenText(b, "invitation")
	quoted := quote(fill(inv, map[string]string{"C1 [1-10]:": "7", "C2 [A/B/C/D]:": "b", "C3 [ý kiến]:": "Đề nghị giảm giấy tờ"}), "> ")
	visible := "Kính gửi Sở Nội vụ,\n\nTôi xin trả lời:\nC1: 9\n\nTrân trọng,\nNguyễn Văn An"
	b.SetBytes(int64(len(visible) + len(quoted)))
	b.ReportAllocs()
	for b.Loop() {
		Read(visible, quoted, q)
	}
}

func TestFoldMatchesVN(t *testing.T) {
	for _, name := range []string{"invitation", "invitation_every_tone_mark", "receipt"} {
		for _, l := range strings.Split(goldenText(t, name), "\n") {
			for _, s := range []string{l, norm.NFD.String(l), strings.ToUpper(l)} {
				if got, want := fold(s), vn.Fold(s); got != want {
					t.Errorf("fold(%q) = %q, vn.Fold = %q", s, got, want)
				}
			}
		}
	}
	for _, s := range []string{"ĐĂNG Ký", "  Ý kiến:  khác ", "Ｃ１", "x×y", "ǅ"} {
		if got, want := fold(s), vn.Fold(s); got != want {
			t.Errorf("fold(%q) = %q, vn.Fold = %q", s, got, want)
		}
	}
}

func TestLargeInputIsLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	q := golden()
	var b strings.Builder
	for i := 0; b.Len() < 1<<16; i++ {
		b.WriteString("C1: ")
		b.WriteString(strings.Repeat("9", i%7+1))
		b.WriteString("\nC")
		b.WriteString(strings.Repeat("1", i%3+1))
		b.WriteString("x: 5\nC3: dòng\n> C2: B\n")
	}
	start := time.Now()
	r := Read(b.String(), b.String(), q)
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Read of 128 kB took %v", d)
	}
	if len(r.Problems) == 0 || len(r.Problems[0].Got) > 200 {
		t.Errorf("problems: %+v", r.Problems[:min(len(r.Problems), 2)])
	}
}
