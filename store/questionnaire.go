package store

import (
	"regexp"
	"strings"
)

// AnswerType is how a question is answered.
type AnswerType string

const (
	AnswerScale  AnswerType = "scale"  // an integer from Min to Max
	AnswerChoice AnswerType = "choice" // one letter from Choices
	AnswerText   AnswerType = "text"   // free text
)

// Questionnaire is what a campaign asks.
type Questionnaire struct {
	Title     string
	Intro     string
	Questions []Question
}

// Question is one item of a questionnaire. Respondents answer it on a line
// starting with its code: "C1 [1-10]: 8".
type Question struct {
	Code     string // "C1", "C2"...
	Text     string
	Type     AnswerType
	Min, Max int      // scale bounds
	Choices  []Choice // single-choice options
	Required bool
}

// Choice is one option of a single-choice question.
type Choice struct {
	Letter string // "A", "B"...
	Text   string
}

var questionCodeRE = regexp.MustCompile(`^[A-Za-z]{1,3}[0-9]{1,3}[a-z]?$`)

func (q Questionnaire) validate() ValidationError {
	var v ValidationError
	if len(q.Questions) == 0 {
		v.add(FieldQuestions, "the questionnaire has no questions")
	}
	seen := map[string]bool{}
	for i, qu := range q.Questions {
		where := func(format string, args ...any) {
			v.add(FieldQuestions, "question %d (%s): "+format, append([]any{i + 1, qu.Code}, args...)...)
		}
		switch {
		case qu.Code == "":
			where("has no code (write C1, C2, ...)")
		case !questionCodeRE.MatchString(qu.Code):
			where("code must be letters then digits, like C1 or C12")
		case seen[strings.ToUpper(qu.Code)]:
			where("code is used twice")
		}
		seen[strings.ToUpper(qu.Code)] = true
		if strings.TrimSpace(qu.Text) == "" {
			where("has no text")
		}
		switch qu.Type {
		case AnswerScale:
			if qu.Min >= qu.Max {
				where("scale min (%d) must be below max (%d)", qu.Min, qu.Max)
			}
			if qu.Max-qu.Min > 100 {
				where("scale %d–%d is wider than 100 steps", qu.Min, qu.Max)
			}
		case AnswerChoice:
			if len(qu.Choices) < 2 {
				where("a choice question needs at least two choices")
			}
			letters := map[string]bool{}
			for _, c := range qu.Choices {
				l := strings.ToUpper(c.Letter)
				if len(l) != 1 || l[0] < 'A' || l[0] > 'Z' {
					where("choice %q must be one letter A–Z", c.Letter)
				} else if letters[l] {
					where("choice %s is listed twice", l)
				}
				letters[l] = true
			}
		case AnswerText:
		default:
			where("type %q is not scale, choice or text", qu.Type)
		}
	}
	return v
}

// Question returns the question with the code (any case), or nil.
func (q Questionnaire) Question(code string) *Question {
	for i := range q.Questions {
		if strings.EqualFold(q.Questions[i].Code, code) {
			return &q.Questions[i]
		}
	}
	return nil
}
