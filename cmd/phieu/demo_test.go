package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phieu/phieu/cmd/phieu/demo"
	"github.com/phieu/phieu/store"
)

// runDemo runs `phieu demo` in-process and returns its output and the
// finished simulation.
func runDemo(t *testing.T, ctx context.Context, stdout, stderr *lockedBuffer, args ...string) (int, *demoRun) {
	t.Helper()
	m := NewMain()
	m.Stdout, m.Stderr = stdout, stderr
	code := m.Main(ctx, append([]string{"demo"}, args...))
	var r *demoRun
	if c, ok := m.cmd.(*DemoCommand); ok {
		r = c.last
	}
	return code, r
}

// lockedBuffer is an output stream a test reads while the command writes
// it; seen is closed once the output contains want.
type lockedBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	seen chan struct{}
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if w.seen != nil && w.want != "" && strings.Contains(w.b.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return n, err
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

var demoWallRE = regexp.MustCompile(`Thời gian chạy: [0-9]+,[0-9] giây`)

// TestDemo runs the demo as CI does (--exit), twice with seed 1: the same
// summary both times and as the golden file has it; every number counted
// from the database and the mail server is what the simulated members did;
// the rules hold (no mail in the quiet hours, no reminder on a day off,
// nothing to members after the deadline).
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo simulates three weeks of a 200-member campaign (a few seconds)")
	}
	t.Setenv("PHIEU_CONFIG", "")
	ctx := context.Background()
	var out1, err1, out2, err2 lockedBuffer
	code, r1 := runDemo(t, ctx, &out1, &err1, "--exit", "--json")
	if code != exitOK || r1 == nil {
		t.Fatalf("demo --exit --json: exit %d\n%s\n%s", code, out1.String(), err1.String())
	}
	code, r2 := runDemo(t, ctx, &out2, &err2, "--exit", "--seed", "1")
	if code != exitOK || r2 == nil {
		t.Fatalf("demo --exit: exit %d\n%s\n%s", code, out2.String(), err2.String())
	}
	sum := r1.summary

	t.Run("Deterministic", func(t *testing.T) {
		a, b := r1.summary, r2.summary
		a.Database, b.Database, a.WallSeconds, b.WallSeconds = "", "", 0, 0
		if !reflect.DeepEqual(a, b) {
			t.Errorf("seed 1 twice:\n%+v\n%+v", a, b)
		}
	})

	t.Run("Golden", func(t *testing.T) {
		got := strings.ReplaceAll(out2.String(), r2.dbPath, "$DIR/phieu.db")
		got = demoWallRE.ReplaceAllString(got, "Thời gian chạy: … giây")
		golden := filepath.Join("testdata", "demo-summary.golden")
		if *updateGolden {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./cmd/phieu -run TestDemo -update)", err)
		}
		if got != string(want) {
			t.Errorf("summary differs from %s (-update rewrites it after review):\n%s", golden, got)
		}
		if !demoWallRE.MatchString(out2.String()) {
			t.Errorf("no wall time in:\n%s", out2.String())
		}
	})

	t.Run("JSON", func(t *testing.T) {
		var obj map[string]any
		if err := json.Unmarshal([]byte(out1.String()), &obj); err != nil {
			t.Fatalf("stdout is not one JSON object: %v\n%s", err, out1.String())
		}
		want := []string{"seed", "campaign", "start", "deadline", "end", "members", "units", "unit_levels",
			"invitations_sent", "invitations_resent", "answered_on_time", "answered_in_quoted_form", "partial_then_corrected",
			"answered_late", "needs_review", "address_failures", "address_failures_by_class", "out_of_office",
			"reminders_sent", "corrections_sent", "receipts_sent", "head_digests_sent", "operator_digests_sent",
			"liaison_digests_sent", "never_answered", "database", "database_kept", "simulated_hours", "wall_seconds"}
		got := slices.Sorted(maps.Keys(obj))
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("keys %v, want %v", got, want)
		}
		if obj["wall_seconds"].(float64) <= 0 {
			t.Errorf("wall_seconds %v", obj["wall_seconds"])
		}
	})

	t.Run("Province", func(t *testing.T) {
		if sum.Members < 180 || sum.Members > 220 || sum.UnitLevels != 3 || sum.Units < 10 {
			t.Errorf("%d members in %d units over %d levels, want about 200 in units 3 levels deep", sum.Members, sum.Units, sum.UnitLevels)
		}
	})

	// What the database and the mail server counted is what the members
	// did, and what the cast was meant to do.
	t.Run("CountsAreWhatMembersDid", func(t *testing.T) {
		tally := r1.sim.Tally()
		cast := demo.DefaultCast(200)
		for _, c := range []struct {
			name           string
			got, did, cast int
		}{
			{"members", sum.Members, tally.Members, 200},
			{"answered on time", sum.Answered, tally.Answered, -1},
			{"partial then corrected", sum.Corrected, tally.Corrected, cast.Partial},
			{"answered in the quoted form", sum.Quoted, tally.Quoted, -1},
			{"late", sum.Late, tally.Late, cast.Late},
			{"needs review", sum.NeedsReview, tally.NeedsReview, 1},
			{"out of office", sum.OutOfOffice, tally.OutOfOffice, 1},
			{"never answered", sum.Never, tally.Never, cast.Silent + cast.UserUnknown + cast.StaysFull + cast.Disabled},
			{"receipts", sum.Receipts, tally.Receipts, -1},
			{"user_unknown", sum.Failures["user_unknown"], tally.Failed[store.ClassUserUnknown], cast.UserUnknown},
			{"mailbox_full", sum.Failures["mailbox_full"], tally.Failed[store.ClassMailboxFull], cast.MailboxFull + cast.StaysFull},
			{"mailbox_disabled", sum.Failures["mailbox_disabled"], tally.Failed[store.ClassMailboxDisabled], cast.Disabled},
		} {
			if c.got != c.did || c.cast >= 0 && c.did != c.cast {
				t.Errorf("%s: counted %d, the members did %d, the cast meant %d", c.name, c.got, c.did, c.cast)
			}
		}
		if len(sum.Failures) != 3 || sum.FailedMembers != cast.UserUnknown+cast.MailboxFull+cast.StaysFull+cast.Disabled {
			t.Errorf("failures %v (%d members)", sum.Failures, sum.FailedMembers)
		}
		if never := float64(sum.Never) / float64(sum.Members); never < 0.08 || never > 0.15 {
			t.Errorf("%.0f%% never answered", never*100)
		}
		if sum.Answered < sum.Members*7/10 {
			t.Errorf("only %d of %d answered on time", sum.Answered, sum.Members)
		}
		// Everyone who answers was moved by something they were sent.
		for _, m := range r1.sim.Members() {
			switch m.Persona {
			case demo.Silent, demo.UserUnknown, demo.StaysFull, demo.Disabled:
				continue
			}
			if !slices.ContainsFunc(m.Actions, func(a demo.Action) bool { return a.Kind == demo.ActReply }) {
				t.Errorf("%s (%s, round %d) never answered; received %v", m.Mailbox, m.Persona, m.Round, m.Received)
			}
		}
	})

	t.Run("Followups", func(t *testing.T) {
		if sum.Reminders == 0 || sum.HeadDigests == 0 || sum.LiaisonDigests == 0 || sum.OperatorDigests == 0 || sum.Corrections != demo.DefaultCast(200).Partial {
			t.Errorf("reminders %d, head digests %d, liaison digests %d, operator digests %d, corrections %d",
				sum.Reminders, sum.HeadDigests, sum.LiaisonDigests, sum.OperatorDigests, sum.Corrections)
		}
		if sum.Resent != 4 { // the mailbox emptied once, the one that stays full three times
			t.Errorf("%d invitations sent again, want 4", sum.Resent)
		}
	})

	t.Run("Rules", func(t *testing.T) {
		c := r1.camp
		for _, d := range r1.deliveries {
			at := d.At.In(r1.loc)
			if h := at.Hour(); h < 7 || h >= 21 {
				t.Errorf("%s to %s at %s: in the quiet hours", d.Kind, d.To, at)
			}
			if !c.InTime(at) && d.Kind.ToRespondent() {
				t.Errorf("%s to %s at %s: after the deadline", d.Kind, d.To, at)
			}
			if (d.Kind == store.KindReminder || d.Kind == store.KindHeadDigest) && !c.Calendar.IsWorkingDay(store.DateOf(at)) {
				t.Errorf("%s to %s at %s: on a day off", d.Kind, d.To, at)
			}
			if d.Kind == "" {
				t.Errorf("a message to %s at %s is not in the outbox", d.To, at)
			}
		}
	})

	t.Run("Progress", func(t *testing.T) {
		lines := strings.Split(strings.TrimSpace(err2.String()), "\n")
		if len(lines) != 25 { // not a terminal: one line per simulated day
			t.Errorf("%d progress lines, want one per day (25):\n%s", len(lines), err2.String())
		}
		last := lines[len(lines)-1]
		for _, want := range []string{"05/03/2026 20:00", "đã hết hạn", "thư mời", "trả lời", "lỗi", "nhắc", "thủ trưởng"} {
			if !strings.Contains(last, want) {
				t.Errorf("last progress line %q lacks %q", last, want)
			}
		}
	})
}

// TestDemoServesUntilInterrupted: without --exit the demo stays up after
// the summary until Ctrl-C, then exits 0 and removes its directory.
func TestDemoServesUntilInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo simulates three weeks of a campaign (a few seconds)")
	}
	t.Setenv("PHIEU_CONFIG", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &lockedBuffer{want: "Ctrl-C", seen: make(chan struct{})}
	seen := stdout.seen
	var stderr lockedBuffer
	type result struct {
		code int
		r    *demoRun
	}
	done := make(chan result, 1)
	go func() {
		code, r := runDemo(t, ctx, stdout, &stderr, "--members", "60", "--tick-delay", "0")
		done <- result{code, r}
	}()
	select {
	case <-seen:
	case res := <-done:
		t.Fatalf("demo ended by itself: exit %d\n%s\n%s", res.code, stdout.String(), stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("no summary after 2 minutes:\n%s", stderr.String())
	}
	select {
	case res := <-done:
		t.Fatalf("demo did not wait for Ctrl-C: exit %d", res.code)
	default:
	}
	// The dashboard it prints works with the token it prints: the overview
	// counts the simulated province, the failures page explains its bounces.
	addr := regexp.MustCompile(`Bảng điều khiển: (http://127\.0\.0\.1:\d+/)`).FindStringSubmatch(stdout.String())
	token := regexp.MustCompile(`Mã truy cập.*: ([0-9a-f]{32})`).FindStringSubmatch(stdout.String())
	if addr == nil || token == nil {
		t.Fatalf("no dashboard address and token:\n%s", stdout.String())
	}
	client, overview := signIn(t, addr[1], token[1])
	get := readPage(t)
	if !strings.Contains(overview, "PAR2025") || !strings.Contains(overview, "/ 60 người đã trả lời") {
		t.Errorf("the demo's overview after signing in:\n%s", overview)
	}
	if failures := get(client.Get(addr[1] + "failures")); !strings.Contains(failures, "hộp thư không tồn tại") {
		t.Errorf("the demo's failures page lacks its unknown users:\n%s", failures)
	}
	cancel()
	res := <-done
	if res.code != exitOK || res.r == nil {
		t.Fatalf("exit %d after Ctrl-C\n%s", res.code, stderr.String())
	}
	if res.r.summary.Members != 60 {
		t.Errorf("%d members, want 60", res.r.summary.Members)
	}
	if _, err := os.Stat(res.r.dir); !os.IsNotExist(err) {
		t.Errorf("the temporary directory %s is still there (%v)", res.r.dir, err)
	}
}
