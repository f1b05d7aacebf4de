package integrity

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phieu/phieu/store"
)

// Why clusters are judged against chance
//
// People in one unit may well answer alike: when a questionnaire's answers
// are lopsided (everyone is "very satisfied" with the one-stop shop), three
// identical forms within an hour say nothing. What does say something is
// alike answers that would be rare if each person answered on their own.
// So for a cluster (the responses within MaxDistance questions of a centre
// response, among the n responses of the unit in the window):
//
//  1. From the campaign's answers so far, estimate for each question how
//     often each answer is given (add-one smoothing over the question's
//     possible answers, so an answer never seen is not impossible). The
//     unit's own responses are left out when at least MinBase others exist,
//     so a cluster does not explain itself away.
//  2. The chance π that one independent response lands within MaxDistance
//     questions of the centre is the probability that at most MaxDistance
//     of its answers differ, questions taken as independent (a
//     Poisson-binomial sum). Answers to different questions are correlated
//     in practice (a satisfied person is satisfied throughout), which makes
//     this π too small; so π is raised to the share of the other responses
//     that actually lie that close, when that is larger.
//  3. The probability that at least k-1 of the other n-1 responses of the
//     window are that close by chance is the binomial tail
//     P(Bin(n-1, π) ≥ k-1).
//  4. Any of the n responses could have been the centre, so the tail is
//     multiplied by n (Bonferroni): P = min(1, n × tail).
//
// The cluster is flagged when k ≥ Min and P < MaxProbability. Each reply is
// judged as it arrives, against the unit's responses in the window before
// it, so a cluster is caught by the answer that completes it; the answers
// already stored in it are flagged then too.

// MinBase is how many responses from other units the answer distribution
// needs before the unit's own are left out of it.
const MinBase = 20

// Vector is one response's answers in questionnaire order, normalised
// ("" for a question not answered).
type Vector struct {
	ResponseID int64 // 0 for the reply being decided, not stored yet
	At         time.Time
	Values     []string
}

// NewVector lays answers (code → value) out in the questionnaire's order.
func NewVector(q store.Questionnaire, id int64, at time.Time, answers map[string]string) Vector {
	v := Vector{ResponseID: id, At: at, Values: make([]string, len(q.Questions))}
	for i, qu := range q.Questions {
		for code, val := range answers {
			if strings.EqualFold(code, qu.Code) {
				v.Values[i] = normalize(val)
			}
		}
	}
	return v
}

func normalize(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

// distance is the number of questions on which a and b differ.
func distance(a, b Vector) int {
	d := 0
	for i := range a.Values {
		if a.Values[i] != b.Values[i] {
			d++
		}
	}
	return d
}

// Distribution is a campaign's answers so far, counted per question over
// all units and per unit, kept up to date as responses arrive, so that
// judging a reply costs no recount.
type Distribution struct {
	q       store.Questionnaire
	total   []map[string]int
	byUnit  map[string][]map[string]int
	nUnit   map[string]int
	vectors []Vector
	units   []string
}

// NewDistribution returns an empty distribution for the questionnaire.
func NewDistribution(q store.Questionnaire) *Distribution {
	return &Distribution{q: q, total: newCounts(len(q.Questions)), byUnit: map[string][]map[string]int{}, nUnit: map[string]int{}}
}

func newCounts(n int) []map[string]int {
	c := make([]map[string]int, n)
	for i := range c {
		c[i] = map[string]int{}
	}
	return c
}

// Add counts one response of the unit.
func (d *Distribution) Add(unit string, v Vector) {
	if d.byUnit[unit] == nil {
		d.byUnit[unit] = newCounts(len(d.q.Questions))
	}
	for i, val := range v.Values {
		d.total[i][val]++
		d.byUnit[unit][i][val]++
	}
	d.nUnit[unit]++
	d.vectors, d.units = append(d.vectors, v), append(d.units, unit)
}

// Len is how many responses are counted.
func (d *Distribution) Len() int { return len(d.vectors) }

// Model is what the unit's newest reply is judged against: every other
// unit's answers when there are at least MinBase of them, so a cluster
// does not explain itself away; else everyone's, the newest reply
// included.
func (d *Distribution) Model(unit string, newest Vector) *Model {
	m := &Model{q: d.q, counts: d.total, n: len(d.vectors), base: d.vectors, units: d.units}
	if others := len(d.vectors) - d.nUnit[unit]; others >= MinBase {
		m.less, m.n, m.exclude = d.byUnit[unit], others, unit
		return m
	}
	m.extra, m.n = &newest, m.n+1
	return m
}

// Model is an answer distribution, per question: counts less the left-out
// unit's, plus the newest reply when it is included.
type Model struct {
	q       store.Questionnaire
	counts  []map[string]int
	less    []map[string]int // the left-out unit's counts, nil for none
	extra   *Vector          // counted on top, nil for none
	n       int
	base    []Vector
	units   []string // of base, when a unit is left out
	exclude string
}

// NewModel counts the answers of base, all of them.
func NewModel(q store.Questionnaire, base []Vector) *Model {
	d := NewDistribution(q)
	for _, v := range base {
		d.Add("", v)
	}
	return &Model{q: q, counts: d.total, n: len(base), base: base}
}

// count is how many responses of the model gave val to question i.
func (m *Model) count(i int, val string) int {
	n := m.counts[i][val]
	if m.less != nil {
		n -= m.less[i][val]
	}
	if m.extra != nil && m.extra.Values[i] == val {
		n++
	}
	return n
}

// categories is how many different answers question i can get: its
// choices or scale steps, or for free text those seen plus one unseen;
// each plus "not answered".
func (m *Model) categories(i int) int {
	qu := m.q.Questions[i]
	switch qu.Type {
	case store.AnswerChoice:
		return len(qu.Choices) + 1
	case store.AnswerScale:
		return qu.Max - qu.Min + 2
	}
	k := len(m.counts[i]) + 1
	if m.counts[i][""] == 0 {
		k++
	}
	return k
}

// match is the smoothed probability that an independent response gives
// answer val to question i.
func (m *Model) match(i int, val string) float64 {
	return float64(m.count(i, val)+1) / float64(m.n+m.categories(i))
}

// Chance is the probability that one independent response lies within d
// questions of c: the larger of the independent-questions estimate and the
// share of the model's responses that do.
func (m *Model) Chance(c Vector, d int) float64 {
	return math.Max(m.independent(c, d), m.share(c, d))
}

// independent is the probability that one response lies within d
// questions of c, questions taken as independent.
func (m *Model) independent(c Vector, d int) float64 {
	// dp[j]: probability of exactly j differing answers so far; the last
	// slot gathers "more than d".
	dp := make([]float64, d+2)
	dp[0] = 1
	for i, val := range c.Values {
		p := m.match(i, val)
		for j := d + 1; j >= 0; j-- {
			miss := 0.0
			if j > 0 {
				miss = dp[j-1] * (1 - p)
			}
			if j == d+1 {
				dp[j] += miss // stays beyond d whatever happens
				continue
			}
			dp[j] = dp[j]*p + miss
		}
	}
	indep := 0.0
	for j := 0; j <= d; j++ {
		indep += dp[j]
	}
	return indep
}

// share is the fraction of the model's responses within d questions of c.
func (m *Model) share(c Vector, d int) float64 {
	if m.n == 0 {
		return 0
	}
	close := 0
	for j, v := range m.base {
		if m.exclude != "" && m.units[j] == m.exclude {
			continue
		}
		if distance(c, v) <= d {
			close++
		}
	}
	if m.extra != nil && distance(c, *m.extra) <= d {
		close++
	}
	return float64(close) / float64(m.n)
}

// Cluster is a set of alike responses of one unit within the window.
type Cluster struct {
	Members     []Vector // the centre first, then by arrival
	N           int      // the unit's responses in the window
	Chance      float64  // π: one response this close by chance
	Probability float64  // of a cluster this large by chance, corrected for the choice of centre
	From, To    time.Time
}

// Candidate reports whether the newest response has, within the window,
// at least Min-1 others around a common centre: only then is the answer
// distribution worth loading.
func Candidate(pol store.ClusterPolicy, window []Vector, newest Vector) bool {
	pol = pol.WithDefaults()
	for _, members := range clusters(pol, inWindow(pol, window, newest)) {
		if len(members) >= pol.Min {
			return true
		}
	}
	return false
}

// inWindow returns the responses of window within the policy's window
// before newest, then newest.
func inWindow(pol store.ClusterPolicy, window []Vector, newest Vector) []Vector {
	all := make([]Vector, 0, len(window)+1)
	for _, v := range window {
		if !v.At.Before(newest.At.Add(-pol.Window)) && !v.At.After(newest.At) {
			all = append(all, v)
		}
	}
	return append(all, newest)
}

// clusters returns, for each centre within MaxDistance of the newest
// response (the last of all), the centre then every other response within
// MaxDistance of it.
func clusters(pol store.ClusterPolicy, all []Vector) [][]Vector {
	newest := all[len(all)-1]
	var out [][]Vector
	for ci, c := range all {
		if distance(c, newest) > pol.MaxDistance {
			continue
		}
		members := []Vector{c}
		for vi, v := range all {
			if vi != ci && distance(c, v) <= pol.MaxDistance {
				members = append(members, v)
			}
		}
		out = append(out, members)
	}
	return out
}

// Detect judges the newest response against the unit's earlier responses
// (window, oldest first; those outside the policy's window before newest
// are ignored): it returns the least probable cluster that holds the
// newest response when chance does not explain it, else nil.
func Detect(pol store.ClusterPolicy, m *Model, window []Vector, newest Vector) *Cluster {
	pol = pol.WithDefaults()
	all := inWindow(pol, window, newest)
	n := len(all)
	var best *Cluster
	for _, members := range clusters(pol, all) {
		k := len(members)
		if k < pol.Min {
			continue
		}
		// π is at least the independent estimate: when even that makes
		// the cluster likely, the costlier share of alike forms is not
		// needed.
		pi := m.independent(members[0], pol.MaxDistance)
		if float64(n)*binomialTail(n-1, k-1, pi) >= pol.MaxProbability {
			continue
		}
		pi = math.Max(pi, m.share(members[0], pol.MaxDistance))
		p := math.Min(1, float64(n)*binomialTail(n-1, k-1, pi))
		if best == nil || p < best.Probability {
			best = &Cluster{Members: members, N: n, Chance: pi, Probability: p}
		}
	}
	if best == nil || best.Probability >= pol.MaxProbability {
		return nil
	}
	sort.SliceStable(best.Members[1:], func(i, j int) bool { return best.Members[1+i].At.Before(best.Members[1+j].At) })
	best.From, best.To = best.Members[0].At, best.Members[0].At
	for _, v := range best.Members {
		if v.At.Before(best.From) {
			best.From = v.At
		}
		if v.At.After(best.To) {
			best.To = v.At
		}
	}
	return best
}

// binomialTail is P(X ≥ j) for X ~ Bin(n, p).
func binomialTail(n, j int, p float64) float64 {
	switch {
	case j <= 0:
		return 1
	case j > n:
		return 0
	case p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	lp, lq := math.Log(p), math.Log1p(-p)
	lgn, _ := math.Lgamma(float64(n + 1))
	sum := 0.0
	for i := j; i <= n; i++ {
		lgi, _ := math.Lgamma(float64(i + 1))
		lgr, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(lgn - lgi - lgr + float64(i)*lp + float64(n-i)*lq)
	}
	return math.Min(1, sum)
}

// Reason is the flag's reason: how many alike answers from which unit,
// when, and how likely chance is.
func (c *Cluster) Reason(pol store.ClusterPolicy, unitCode string, loc *time.Location) string {
	pol = pol.WithDefaults()
	alike := "giống hệt nhau"
	if pol.MaxDistance > 0 {
		alike = fmt.Sprintf("giống nhau (khác nhau nhiều nhất %d câu)", pol.MaxDistance)
	}
	return fmt.Sprintf("%d trong %d phiếu trả lời của đơn vị %s nhận trong vòng %s (%s–%s) %s; "+
		"theo phân bố câu trả lời của đợt khảo sát, một phiếu điền độc lập chỉ có khả năng %s giống như vậy, "+
		"nên khả năng có từ %d phiếu như thế trở lên do ngẫu nhiên là %s (ngưỡng %s)",
		len(c.Members), c.N, unitCode, Duration(pol.Window), c.From.In(loc).Format("15:04"), c.To.In(loc).Format("15:04 02/01/2006"),
		alike, Probability(c.Chance), len(c.Members), Probability(c.Probability), Probability(pol.MaxProbability))
}

// Probability writes p the Vietnamese way: a decimal comma, and powers of
// ten for small values ("0,25", "3,1·10⁻⁶").
func Probability(p float64) string {
	if p >= 0.01 || p == 0 {
		return strings.Replace(strconv.FormatFloat(p, 'f', 2, 64), ".", ",", 1)
	}
	if p >= 0.001 {
		return strings.Replace(strconv.FormatFloat(p, 'f', 3, 64), ".", ",", 1)
	}
	exp := int(math.Floor(math.Log10(p)))
	mant := p / math.Pow(10, float64(exp))
	if math.Round(mant*10) >= 100 {
		mant, exp = mant/10, exp+1
	}
	m := strings.Replace(strconv.FormatFloat(mant, 'f', 1, 64), ".", ",", 1)
	return m + "·10" + superscript(exp)
}

func superscript(n int) string {
	const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹"
	s := strconv.Itoa(n)
	var b strings.Builder
	for _, r := range s {
		if r == '-' {
			b.WriteString("⁻")
			continue
		}
		b.WriteString(string([]rune(digits)[r-'0']))
	}
	return b.String()
}

// Duration writes a window in Vietnamese: "2 giờ", "90 phút", "1 giờ 30 phút".
func Duration(d time.Duration) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return fmt.Sprintf("%d phút", m)
	case m == 0:
		return fmt.Sprintf("%d giờ", h)
	}
	return fmt.Sprintf("%d giờ %d phút", h, m)
}
