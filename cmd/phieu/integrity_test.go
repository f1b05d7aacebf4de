package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phieu/phieu/store"
)

// The export fixture's S001-P3 member answered from another mailbox: the
// integrity report counts it under their unit and gives the reason.
func TestIntegrityReport(t *testing.T) {
	dir := exportFixture(t)
	integrity := func(args ...string) string {
		return mustRunAt(t, dir, exportDuring, append([]string{"integrity", "--campaign", "PAR2025"}, args...)...)
	}

	t.Run("Table", func(t *testing.T) {
		out := integrity()
		// The flag names no mailbox: that stays with the inbound message.
		if strings.Contains(out, mbElsewise) {
			t.Errorf("the report names the sender's mailbox:\n%s", out)
		}
		for _, want := range []string{
			"Integrity of PAR2025: 1 of 3 responses flagged",
			"UNIT", "OTHER MAILBOX", "SHARED MAILBOX", "FORWARDED INVITATION", "ANSWER CLUSTER",
			"other_mailbox", "trả lời từ hộp thư khác",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("report lacks %q:\n%s", want, out)
			}
		}
		// Units in tree order, children indented under their parent.
		indent := map[string]int{}
		order := map[string]int{}
		for i, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				indent[f[0]], order[f[0]] = len(line)-len(strings.TrimLeft(line, " ")), i
			}
		}
		if order["S001-P3"] <= order["S001"] || indent["S001-P3"] != indent["S001"]+2 || indent["S001"] != indent["UBND"]+2 {
			t.Errorf("S001-P3 is not listed under S001 under UBND:\n%s", out)
		}
	})
	t.Run("CSV", func(t *testing.T) {
		records := readCSV(t, integrity("--format", "csv"))
		units := column(t, records, "UNIT")
		i := slices.IndexFunc(units, func(u string) bool { return strings.TrimSpace(u) == "S001-P3" })
		if i < 0 {
			t.Fatalf("no S001-P3 line: %q", units)
		}
		if got := column(t, records, "OTHER MAILBOX")[i]; got != "1" {
			t.Errorf("S001-P3 other mailbox = %s, want 1", got)
		}
		if last := records[len(records)-1]; last[0] != "TOTAL" || last[2] != "3" || last[3] != "1" {
			t.Errorf("total line %q", last)
		}
	})
	t.Run("JSONFlags", func(t *testing.T) {
		out := strings.TrimSpace(integrity("--format", "json", "--flags"))
		var f map[string]string
		if err := json.Unmarshal([]byte(out), &f); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if f["kind"] != "other_mailbox" || f["unit"] != "S001-P3" || f["reason"] != "trả lời từ hộp thư khác" || f["at"] != "02/12/2026 00:00" {
			t.Errorf("flag %v", f)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		if code, _, errs := runAt(t, dir, exportDuring, "integrity"); code != exitUsage || !strings.Contains(errs, "needs --campaign") {
			t.Errorf("no campaign: exit %d %s", code, errs)
		}
		if code, _, errs := runAt(t, dir, exportDuring, "integrity", "--campaign", "NOPE"); code != exitFailure || !strings.Contains(errs, "not found") {
			t.Errorf("unknown campaign: exit %d %s", code, errs)
		}
	})
}

func TestIntegrityConfig(t *testing.T) {
	t.Run("Thresholds", func(t *testing.T) {
		cfg, err := ReadConfigFile(writeConfig(t, "integrity:\n  cluster_window: 90m\n  cluster_min: 4\n  cluster_max_distance: 0\n  cluster_max_probability: 0.0001\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		p, err := cfg.Integrity.policy()
		if err != nil || p != (store.ClusterPolicy{Window: 90 * time.Minute, Min: 4, MaxDistance: 0, MaxProbability: 0.0001}) {
			t.Errorf("policy %+v, %v", p, err)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		cfg := DefaultConfig()
		if p, err := cfg.Integrity.policy(); err != nil || p != store.DefaultClusterPolicy() {
			t.Errorf("policy %+v, %v; want the defaults", p, err)
		}
	})
	for _, tc := range []struct{ name, body, want string }{
		{"BadWindow", "integrity:\n  cluster_window: soon\n", `phieu.yaml:2:19: integrity.cluster_window: "soon" is not a duration`},
		{"OneIsNoCluster", "integrity:\n  cluster_min: 1\n", "phieu.yaml:2:16: integrity.cluster_min: must be at least 2"},
		{"ProbabilityOne", "integrity:\n  cluster_max_probability: 1\n", "phieu.yaml:2:28: integrity.cluster_max_probability: must be between 0 and 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ReadConfigFile(writeConfig(t, tc.body))
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
