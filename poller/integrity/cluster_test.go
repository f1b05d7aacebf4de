package integrity_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/poller/integrity"
	"github.com/phieu/phieu/store"
)

// questionnaire: eight 1–5 scales and two four-way choices.
func questionnaire() store.Questionnaire {
	var q store.Questionnaire
	for i := 1; i <= 8; i++ {
		q.Questions = append(q.Questions, store.Question{Code: fmt.Sprintf("C%d", i), Text: "x", Type: store.AnswerScale, Min: 1, Max: 5})
	}
	for i := 9; i <= 10; i++ {
		q.Questions = append(q.Questions, store.Question{Code: fmt.Sprintf("C%d", i), Text: "x", Type: store.AnswerChoice,
			Choices: []store.Choice{{Letter: "A"}, {Letter: "B"}, {Letter: "C"}, {Letter: "D"}}})
	}
	return q
}

// vec builds a vector from "4455443 3AB"-like strings: one character per
// question.
func vec(q store.Questionnaire, id int64, at time.Time, answers string) integrity.Vector {
	m := map[string]string{}
	for i, r := range strings.ReplaceAll(answers, " ", "") {
		m[q.Questions[i].Code] = string(r)
	}
	return integrity.NewVector(q, id, at, m)
}

var t0 = time.Date(2023, 3, 1, 2, 0, 0, 0, time.UTC) // 09:00 in Hà Nội

// pick draws an index with the probabilities p.
func pick(rng *rand.Rand, p []float64) int {
	x := rng.Float64()
	for i, pi := range p {
		if x < pi {
			return i
		}
		x -= pi
	}
	return len(p) - 1
}

// honest draws a response the way people answer on their own: each
// scale answer from a spread around 4, each choice from a skewed spread.
func honest(rng *rand.Rand) string {
	var b strings.Builder
	scale := []float64{0.05, 0.10, 0.25, 0.40, 0.20}
	choice := []float64{0.5, 0.3, 0.15, 0.05}
	for range 8 {
		b.WriteByte(byte('1' + pick(rng, scale)))
	}
	for range 2 {
		b.WriteByte(byte('A' + pick(rng, choice)))
	}
	return b.String()
}

func TestDetect(t *testing.T) {
	q := questionnaire()
	pol := store.DefaultClusterPolicy()
	rng := rand.New(rand.NewPCG(1, 2))
	var spread []integrity.Vector
	for i := range 200 {
		spread = append(spread, vec(q, int64(1000+i), time.Time{}, honest(rng)))
	}
	var unanimous []integrity.Vector
	for i := range 200 {
		unanimous = append(unanimous, vec(q, int64(1000+i), time.Time{}, "55555555AA"))
	}
	// Half the province is content throughout, half is not: every answer
	// is 5 or 1 about as often, but never mixed within one form.
	var polarised []integrity.Vector
	for i := range 200 {
		a := "55555555AA"
		if i%2 == 1 {
			a = "11111111DD"
		}
		polarised = append(polarised, vec(q, int64(1000+i), time.Time{}, a))
	}
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	for _, tc := range []struct {
		name   string
		base   []integrity.Vector
		pol    store.ClusterPolicy
		window []integrity.Vector
		newest integrity.Vector
		want   int // cluster size, 0 for none
	}{
		{
			name:   "ThreeIdenticalInSmallUnit",
			base:   spread,
			window: []integrity.Vector{vec(q, 1, at(0), "2435125341"), vec(q, 2, at(12), "2435125341"), vec(q, 3, at(30), honest(rng))},
			newest: vec(q, 0, at(41), "2435125341"),
			want:   3,
		},
		{
			name:   "NearIdenticalWithinOneQuestion",
			base:   spread,
			window: []integrity.Vector{vec(q, 1, at(0), "2435125341"), vec(q, 2, at(5), "2435125342")},
			newest: vec(q, 0, at(9), "2435135341"),
			want:   3,
		},
		{
			name:   "NearIdenticalWhenOnlyIdenticalCounts",
			base:   spread,
			pol:    store.ClusterPolicy{MaxDistance: 0, Min: 3},
			window: []integrity.Vector{vec(q, 1, at(0), "2435125341"), vec(q, 2, at(5), "2435125342")},
			newest: vec(q, 0, at(9), "2435135341"),
		},
		{
			name:   "OnlyTwoAlike",
			base:   spread,
			window: []integrity.Vector{vec(q, 1, at(0), "2435125341"), vec(q, 2, at(5), honest(rng))},
			newest: vec(q, 0, at(9), "2435125341"),
		},
		{
			name:   "OutsideTheWindow",
			base:   spread,
			window: []integrity.Vector{vec(q, 1, at(0), "2435125341"), vec(q, 2, at(5), "2435125341")},
			newest: vec(q, 0, at(5+121), "2435125341"),
		},
		{
			// Everyone answers the same: chance explains three alike forms.
			name:   "UnanimousQuestionnaire",
			base:   unanimous,
			window: []integrity.Vector{vec(q, 1, at(0), "55555555AA"), vec(q, 2, at(5), "55555555AA"), vec(q, 3, at(6), "55555555AA")},
			newest: vec(q, 0, at(9), "55555555AA"),
		},
		{
			// Answers correlate across questions: the independent model
			// alone would call 0.5⁸ rare, the forms show it is common.
			name:   "CommonPatternOfCorrelatedAnswers",
			base:   polarised,
			window: []integrity.Vector{vec(q, 1, at(0), "55555555AA"), vec(q, 2, at(5), "55555555AA")},
			newest: vec(q, 0, at(9), "55555555AA"),
		},
		{
			// The modal form of a spread questionnaire: likelier, yet three
			// of three within minutes is still rare.
			name:   "ModalAnswersThreeOfThree",
			base:   spread,
			window: []integrity.Vector{vec(q, 1, at(0), "44444444AA"), vec(q, 2, at(5), "44444444AA")},
			newest: vec(q, 0, at(9), "44444444AA"),
			want:   3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pol
			if tc.pol != (store.ClusterPolicy{}) {
				p = tc.pol
			}
			m := integrity.NewModel(q, tc.base)
			cl := integrity.Detect(p, m, tc.window, tc.newest)
			got := 0
			if cl != nil {
				got = len(cl.Members)
			}
			if got != tc.want {
				t.Fatalf("cluster of %d, want %d (%+v)", got, tc.want, cl)
			}
			if cl == nil {
				if integrity.Candidate(p, tc.window, tc.newest) && tc.name == "OnlyTwoAlike" {
					t.Error("two alike answers are a candidate")
				}
				return
			}
			if !integrity.Candidate(p, tc.window, tc.newest) {
				t.Error("a detected cluster was not a candidate")
			}
			if cl.Probability >= p.WithDefaults().MaxProbability {
				t.Errorf("probability %g is not below the threshold", cl.Probability)
			}
			reason := cl.Reason(p, "STP", time.FixedZone("ICT", 7*3600))
			for _, want := range []string{strconv.Itoa(got) + " trong ", " phiếu trả lời ", "đơn vị STP", "2 giờ", "09:", "01/03/2023", "ngưỡng 0,001"} {
				if !strings.Contains(reason, want) {
					t.Errorf("reason %q lacks %q", reason, want)
				}
			}
		})
	}
}

func TestChanceFollowsTheDistribution(t *testing.T) {
	q := store.Questionnaire{Questions: []store.Question{
		{Code: "C1", Type: store.AnswerChoice, Choices: []store.Choice{{Letter: "A"}, {Letter: "B"}}},
		{Code: "C2", Type: store.AnswerChoice, Choices: []store.Choice{{Letter: "A"}, {Letter: "B"}}},
	}}
	// 8 A and 0 B on each question, smoothed over A, B and "not answered":
	// P(A) = 9/11 and P(B) = 1/11.
	var base []integrity.Vector
	for range 8 {
		base = append(base, integrity.NewVector(q, 1, time.Time{}, map[string]string{"C1": "A", "C2": "A"}))
	}
	m := integrity.NewModel(q, base)
	aa := integrity.NewVector(q, 0, time.Time{}, map[string]string{"C1": "A", "C2": "A"})
	bb := integrity.NewVector(q, 0, time.Time{}, map[string]string{"C1": "B", "C2": "B"})
	for _, tc := range []struct {
		v    integrity.Vector
		d    int
		want float64
	}{
		{aa, 0, 1},                       // every base form is AA: the share seen beats 81/121
		{bb, 0, 1.0 / 121},               // (1/11)²
		{bb, 1, 1 - (10.0/11)*(10.0/11)}, // not both differ
		{bb, 2, 1},
	} {
		if got := m.Chance(tc.v, tc.d); fmt.Sprintf("%.9f", got) != fmt.Sprintf("%.9f", tc.want) {
			t.Errorf("Chance(%v, %d) = %.9f, want %.9f", tc.v.Values, tc.d, got, tc.want)
		}
	}
}

func TestProbabilityWording(t *testing.T) {
	for _, tc := range []struct {
		p    float64
		want string
	}{
		{0.25, "0,25"}, {0.001, "0,001"}, {0.0005, "5,0·10⁻⁴"}, {3.14e-6, "3,1·10⁻⁶"}, {9.96e-5, "1,0·10⁻⁴"}, {1, "1,00"},
	} {
		if got := integrity.Probability(tc.p); got != tc.want {
			t.Errorf("Probability(%g) = %q, want %q", tc.p, got, tc.want)
		}
	}
	if got := integrity.Duration(90 * time.Minute); got != "1 giờ 30 phút" {
		t.Errorf("Duration(90m) = %q", got)
	}
}
