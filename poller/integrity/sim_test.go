package integrity_test

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/poller/integrity"
	"github.com/phieu/phieu/store"
)

// simResponse is one simulated reply.
type simResponse struct {
	id      int64
	unit    int
	at      time.Time
	answers string
	cluster int // 1-based injected cluster, 0 for an honest reply
	flagged bool
}

// mood draws a form the way people who feel alike about everything
// answer: answers correlate across questions, the hard case for the
// independence model.
func mood(rng *rand.Rand) string {
	type spread struct{ scale, choice []float64 }
	moods := []spread{
		{[]float64{0, 0, 0.05, 0.35, 0.60}, []float64{0.8, 0.15, 0.05, 0}},      // content
		{[]float64{0.05, 0.15, 0.5, 0.25, 0.05}, []float64{0.3, 0.4, 0.2, 0.1}}, // neutral
		{[]float64{0.4, 0.4, 0.15, 0.05, 0}, []float64{0.05, 0.15, 0.3, 0.5}},   // unhappy
	}
	x := rng.Float64()
	m := moods[0]
	switch {
	case x > 0.9:
		m = moods[2]
	case x > 0.6:
		m = moods[1]
	}
	var b strings.Builder
	for range 8 {
		b.WriteByte(byte('1' + pick(rng, m.scale)))
	}
	for range 2 {
		b.WriteByte(byte('A' + pick(rng, m.choice)))
	}
	return b.String()
}

// simCampaign draws 1,000 replies from 50 units of 20 members. Most
// replies come in waves after the invitation and each reminder (08:00 plus
// an hour or so), which packs a unit's replies into the same hours.
func simCampaign(rng *rand.Rand, draw func(*rand.Rand) string) []*simResponse {
	waves := []time.Time{t0, t0.Add(7 * 24 * time.Hour), t0.Add(11 * 24 * time.Hour), t0.Add(13 * 24 * time.Hour)}
	var out []*simResponse
	for unit := range 50 {
		for range 20 {
			at := waves[rng.IntN(len(waves))].Add(time.Duration(rng.ExpFloat64() * float64(time.Hour)))
			out = append(out, &simResponse{unit: unit, at: at, answers: draw(rng)})
		}
	}
	return out
}

// inject replaces the replies of k members of a unit by one form, copied
// with at most one answer changed, all within 40 minutes.
func inject(rng *rand.Rand, rs []*simResponse, unit, k, cluster int, form string) {
	var members []*simResponse
	for _, r := range rs {
		if r.unit == unit {
			members = append(members, r)
		}
	}
	start := members[0].at
	for i := range k {
		r := members[i+1]
		a := []byte(form)
		if i > 0 && rng.IntN(2) == 0 {
			q := rng.IntN(8)
			a[q] = byte('1' + rng.IntN(5)) // a slightly edited copy
		}
		r.answers, r.cluster, r.at = string(a), cluster, start.Add(time.Duration(rng.IntN(40))*time.Minute)
	}
}

// run feeds the replies to the check in arrival order, as the poller does.
func run(q store.Questionnaire, pol store.ClusterPolicy, rs []*simResponse) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].at.Before(rs[j].at) })
	vs := make([]integrity.Vector, len(rs))
	for i, r := range rs {
		r.id = int64(i + 1)
		vs[i] = vec(q, r.id, r.at, r.answers)
	}
	dist := integrity.NewDistribution(q)
	for i, r := range rs {
		var window []integrity.Vector
		for j := i - 1; j >= 0 && !rs[j].at.Before(r.at.Add(-pol.Window)); j-- {
			if rs[j].unit == r.unit {
				window = append([]integrity.Vector{vs[j]}, window...)
			}
		}
		newest := vs[i]
		newest.ResponseID = 0
		unit := strconv.Itoa(r.unit)
		var cl *integrity.Cluster
		if integrity.Candidate(pol, window, newest) {
			cl = integrity.Detect(pol, dist.Model(unit, newest), window, newest)
		}
		dist.Add(unit, vs[i]) // stored whatever the check finds
		if cl == nil {
			continue
		}
		r.flagged = true
		for _, m := range cl.Members {
			if m.ResponseID != 0 {
				rs[m.ResponseID-1].flagged = true
			}
		}
	}
}

// TestSimulatedCampaigns measures the cluster check: how many honest
// replies it flags in a campaign of 1,000 (the false-positive rate), and
// how many injected clusters it catches. Run with -v for the figures.
func TestSimulatedCampaigns(t *testing.T) {
	q := questionnaire()
	pol := store.DefaultClusterPolicy()
	for _, tc := range []struct {
		name  string
		draw  func(*rand.Rand) string
		maxFP float64
	}{
		{"IndependentAnswers", honest, 0.005},
		{"CorrelatedMoods", mood, 0.01},
		{"UnanimousQuestionnaire", func(rng *rand.Rand) string {
			if rng.IntN(20) == 0 {
				return honest(rng)
			}
			return "55555555AA"
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flagged, total := 0, 0
			for seed := range uint64(3) {
				rs := simCampaign(rand.New(rand.NewPCG(seed, 7)), tc.draw)
				run(q, pol, rs)
				for _, r := range rs {
					total++
					if r.flagged {
						flagged++
					}
				}
			}
			rate := float64(flagged) / float64(total)
			t.Logf("honest campaign (%s): %d of %d replies flagged, false-positive rate %.4f", tc.name, flagged, total, rate)
			if rate > tc.maxFP {
				t.Errorf("false-positive rate %.4f above %.4f", rate, tc.maxFP)
			}
		})
	}

	t.Run("InjectedClusters", func(t *testing.T) {
		for _, form := range []struct {
			name    string
			pick    func(*rand.Rand) string
			minRate float64
		}{
			{"OnePersonsForm", mood, 0.8},
			// The form most content people fill in: chance explains most
			// such clusters, and the check says so rather than guess.
			{"AllBestForm", func(*rand.Rand) string { return "55555555AA" }, 0},
		} {
			caught, injected, honestFlagged, honestTotal := 0, 0, 0, 0
			for seed := range uint64(3) {
				rng := rand.New(rand.NewPCG(seed, 11))
				rs := simCampaign(rng, mood)
				for c := range 20 {
					inject(rng, rs, c*2, 3+c%3, c+1, form.pick(rng))
				}
				run(q, pol, rs)
				hits := map[int]int{}
				for _, r := range rs {
					switch {
					case r.cluster != 0 && r.flagged:
						hits[r.cluster]++
					case r.cluster == 0:
						honestTotal++
						if r.flagged {
							honestFlagged++
						}
					}
				}
				for c := 1; c <= 20; c++ {
					injected++
					if hits[c] >= pol.Min {
						caught++
					}
				}
			}
			rate := float64(caught) / float64(injected)
			t.Logf("injected clusters of 3–5 (%s): %d of %d caught, detection rate %.2f; honest replies flagged %d of %d",
				form.name, caught, injected, rate, honestFlagged, honestTotal)
			if rate < form.minRate {
				t.Errorf("%s: detection rate %.2f below %.2f", form.name, rate, form.minRate)
			}
			if fp := float64(honestFlagged) / float64(honestTotal); fp > 0.01 {
				t.Errorf("%s: %.4f of the honest replies flagged", form.name, fp)
			}
		}
	})
}
