package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"recall/internal/boltstore"
	"recall/internal/recall"
	"recall/internal/testenv"
)

// seeded is one conversation the reprocess tests put in the store.
type seeded struct {
	id, owner string
	status    recall.Status
	updated   time.Time
}

// seedStore fills dir's embedded store: for each owner, conversations
// failed and done, recently and two days ago, and one pending. It closes
// the store, as recall serve would be stopped.
func seedStore(t *testing.T, dir string, owners ...string) []seeded {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	now := time.Now().UTC()
	var out []seeded
	for _, owner := range owners {
		for _, p := range []struct {
			status recall.Status
			age    time.Duration
		}{
			{recall.StatusFailed, time.Hour}, {recall.StatusFailed, 2 * time.Hour}, {recall.StatusFailed, 48 * time.Hour},
			{recall.StatusDone, time.Hour}, {recall.StatusDone, 48 * time.Hour}, {recall.StatusPending, time.Hour},
		} {
			at := now.Add(-p.age)
			c := &recall.Conversation{ID: recall.NewID(at), Owner: owner, Content: "c", PostType: "update", Priority: recall.PriorityDefault,
				CreatedAt: at, UpdatedAt: at, Status: recall.StatusPending, Run: 1}
			if _, _, err := st.Create(ctx, c, nil); err != nil {
				t.Fatal(err)
			}
			ref := c.Ref()
			switch p.status {
			case recall.StatusFailed:
				if _, err := st.Transition(ctx, ref, recall.Transition{Event: recall.EventFail, At: at, Reason: "model access"}); err != nil {
					t.Fatal(err)
				}
			case recall.StatusDone:
				if _, err := st.Transition(ctx, ref, recall.Transition{Event: recall.EventStart, At: at}); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Transition(ctx, ref, recall.Transition{Event: recall.EventDone, At: at, Analysis: &recall.Analysis{Summary: "s", Model: "m"}}); err != nil {
					t.Fatal(err)
				}
			}
			out = append(out, seeded{id: c.ID, owner: owner, status: p.status, updated: at})
		}
	}
	return out
}

// runs reads every seeded conversation's run back from the store.
func runs(t *testing.T, dir string, seeds []seeded) map[string]int {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := map[string]int{}
	for _, s := range seeds {
		c, err := st.Get(t.Context(), s.owner, s.id)
		if err != nil {
			t.Fatal(err)
		}
		out[s.id] = c.Run
	}
	return out
}

// wantRuns checks that exactly the seeds pick selects were reprocessed,
// once. A pending seed is never restarted: its run is the analysis a
// reprocess asks for.
func wantRuns(t *testing.T, dir string, seeds []seeded, pick func(seeded) bool) {
	t.Helper()
	got := runs(t, dir, seeds)
	for _, s := range seeds {
		want := 1
		if pick(s) && s.status != recall.StatusPending {
			want = 2
		}
		if got[s.id] != want {
			t.Errorf("%s (%s, %s, %s ago) is on run %d, want %d", s.id, s.owner, s.status, time.Since(s.updated).Round(time.Hour), got[s.id], want)
		}
	}
}

func TestReprocessFilters(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		pick  func(seeded) bool
		count int
	}{
		{"failed in the last day", []string{"--since", "24h"}, func(s seeded) bool {
			return s.status == recall.StatusFailed && time.Since(s.updated) < 24*time.Hour
		}, 4},
		{"failed of one owner", []string{"--owner", "bob"}, func(s seeded) bool {
			return s.status == recall.StatusFailed && s.owner == "bob"
		}, 3},
		{"done since a time", []string{"--status", "done", "--since", time.Now().Add(-3 * time.Hour).UTC().Format(time.RFC3339)}, func(s seeded) bool {
			return s.status == recall.StatusDone && time.Since(s.updated) < 3*time.Hour
		}, 2},
		{"everything of alice", []string{"--status", "any", "--owner", "alice"}, func(s seeded) bool { return s.owner == "alice" }, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			dir := t.TempDir()
			seeds := seedStore(t, dir, "alice", "bob")
			code, out, errOut := runCLI(t, append([]string{"reprocess", "--data", dir, "--rate", "1000/s", "--progress", "plain"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			if !strings.Contains(out, fmt.Sprintf("reprocessed %d conversations", tt.count)) || !strings.Contains(out, "0 errors") {
				t.Errorf("summary:\n%s", out)
			}
			if !strings.Contains(out, "start recall serve and its sweeper enqueues these") {
				t.Errorf("no note about the in-process queue:\n%s", out)
			}
			if !strings.Contains(errOut, fmt.Sprintf("reprocess  %d  ", tt.count)) {
				t.Errorf("progress:\n%s", errOut)
			}
			wantRuns(t, dir, seeds, tt.pick)
			if _, err := os.Stat(filepath.Join(dir, "reprocess.checkpoint")); !os.IsNotExist(err) {
				t.Errorf("a finished run left its checkpoint: %v", err)
			}
		})
	}
}

func TestReprocessDryRun(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	seeds := seedStore(t, dir, "alice")
	code, out, _ := runCLI(t, "reprocess", "--data", dir, "--dry-run", "--progress", "none")
	if code != 0 || !strings.Contains(out, "would reprocess 3 conversations") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, s := range seeds {
		if listed := strings.Contains(out, s.id); listed != (s.status == recall.StatusFailed) {
			t.Errorf("%s (%s) listed = %v", s.id, s.status, listed)
		}
	}
	wantRuns(t, dir, seeds, func(seeded) bool { return false })
}

// TestReprocessLimitAndResume stops after 4 of 12 (--status any, so a
// second pass over the same conversations would find them again: a resume
// that lost its place would reprocess some twice) and resumes.
func TestReprocessLimitAndResume(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	seeds := seedStore(t, dir, "alice", "bob")
	code, out, _ := runCLI(t, "reprocess", "--data", dir, "--status", "any", "--limit", "4", "--rate", "1000/s", "--progress", "none")
	if code != 0 || !strings.Contains(out, "reprocessed 4 conversations") || !strings.Contains(out, "continue with: recall reprocess --resume --data "+dir) {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// Four were handled; a pending one among them is left on its run.
	if n := countRun(runs(t, dir, seeds), 2); n == 0 || n > 4 {
		t.Fatalf("after --limit 4, %d on run 2", n)
	}

	// Other filters than the checkpoint's are refused.
	code, out, _ = runCLI(t, "reprocess", "--data", dir, "--resume", "--status", "failed", "--progress", "none")
	if code != 1 {
		t.Fatalf("resume with other filters: exit %d\n%s", code, out)
	}

	code, out, _ = runCLI(t, "reprocess", "--data", dir, "--resume", "--rate", "1000/s", "--progress", "none")
	if code != 0 || !strings.Contains(out, "reprocessed 8 conversations (any status)") || !strings.Contains(out, "12 in all") {
		t.Fatalf("resume: exit %d\n%s", code, out)
	}
	wantRuns(t, dir, seeds, func(seeded) bool { return true })
	code, _, errOut := runCLI(t, "reprocess", "--data", dir, "--resume", "--progress", "none")
	if code != 1 || !strings.Contains(errOut, "no checkpoint at") {
		t.Fatalf("resume after a finished run: exit %d\n%s", code, errOut)
	}
}

func countRun(runs map[string]int, run int) int {
	n := 0
	for _, r := range runs {
		if r == run {
			n++
		}
	}
	return n
}

// TestReprocessInterruptAndResume interrupts a paced run part-way (as
// Ctrl-C would) and resumes it: every conversation ends reprocessed exactly
// once.
func TestReprocessInterruptAndResume(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	seeds := seedStore(t, dir, "alice", "bob", "carol")
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(400*time.Millisecond, cancel)
	var out, errOut testenv.Buffer
	code := run(ctx, []string{"reprocess", "--data", dir, "--status", "any", "--rate", "10/s", "--progress", "none"}, &out, &errOut)
	if code != 130 || !strings.Contains(out.String(), "interrupted; continue with: recall reprocess --resume") {
		t.Fatalf("exit %d, want 130\n%s%s", code, out.String(), errOut.String())
	}
	m := regexp.MustCompile(`reprocessed (\d+) conversations`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the interrupted run does not say how many it reprocessed:\n%s", out.String())
	}
	done, _ := strconv.Atoi(m[1])
	if done == 0 || done == len(seeds) || countRun(runs(t, dir, seeds), 2) == 0 {
		t.Fatalf("%d of %d reprocessed before the interrupt; want some", done, len(seeds))
	}
	code, out2, _ := runCLI(t, "reprocess", "--data", dir, "--resume", "--rate", "1000/s", "--progress", "none")
	if code != 0 || !strings.Contains(out2, fmt.Sprintf("reprocessed %d conversations", len(seeds)-done)) {
		t.Fatalf("resume: exit %d\n%s", code, out2)
	}
	wantRuns(t, dir, seeds, func(seeded) bool { return true })
}

func TestReprocessRefusesHeldStore(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	held, err := boltstore.Open(filepath.Join(dir, "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	code, _, errOut := runCLI(t, "reprocess", "--data", dir, "--progress", "none")
	if code != 1 || !strings.Contains(errOut, "in use") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
}

func TestReprocessUsage(t *testing.T) {
	cleanEnv(t)
	for _, args := range [][]string{
		{"--status", "sideways"}, {"--since", "yesterday"}, {"--since", "-5h"}, {"--rate", "fast"},
		{"--rate", "5/d"}, {"--rate", "0"}, {"--limit", "-1"}, {"--progress", "loud"},
	} {
		if code, _, errOut := runCLI(t, append([]string{"reprocess", "--data", t.TempDir()}, args...)...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, errOut)
		}
	}
}

func TestParseRateAndSince(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want float64
	}{{"50/s", 50}, {"50", 50}, {"3000/m", 50}, {"7200/h", 2}, {"0.5/s", 0.5}} {
		if got, err := parseRate(tt.in); err != nil || got != tt.want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"24h", now.Add(-24 * time.Hour)}, {"90m", now.Add(-90 * time.Minute)}, {"7d", now.Add(-7 * 24 * time.Hour)},
		{"2026-04-30T08:00:00Z", time.Date(2026, 4, 30, 8, 0, 0, 0, time.UTC)},
	} {
		if got, err := parseSince(tt.in, now); err != nil || !got.Equal(tt.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// seedUnreprocessable adds n failed conversations of owner whose ids are not
// ids Recall makes (as rows imported from an older system might be): the
// scan finds them, and Reprocess refuses each with ENOTFOUND, so a run over
// them counts an error per row and carries on.
func seedUnreprocessable(t *testing.T, dir, owner string, n int) {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Now().UTC().Add(-time.Hour)
	for i := range n {
		c := &recall.Conversation{ID: fmt.Sprintf("legacy-%04d", i), Owner: owner, Content: "c", PostType: "update",
			Priority: recall.PriorityDefault, CreatedAt: at, UpdatedAt: at, Status: recall.StatusPending, Run: 1}
		if _, _, err := st.Create(t.Context(), c, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Transition(t.Context(), c.Ref(), recall.Transition{Event: recall.EventFail, At: at, Reason: "model access"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReprocessErrorsWithProgress runs a paced reprocess whose errors keep
// coming while the progress bar redraws (every 100ms) and shows them: under
// -race this fails if the loop and the display share a counter without
// synchronisation. It also holds the error count to one number, the same in
// the progress line, the summary and the exit code.
func TestReprocessErrorsWithProgress(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	seeds := seedStore(t, dir, "alice")
	seedUnreprocessable(t, dir, "bob", 12)
	var out, errOut testenv.Buffer
	code := run(t.Context(), []string{"reprocess", "--data", dir, "--rate", "25/s", "--progress", "bar"}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (errors)\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "reprocessed 15 conversations (status failed) in ") || !strings.Contains(out.String(), ", 12 errors") {
		t.Errorf("summary:\n%s", out.String())
	}
	if n := strings.Count(out.String(), "error: legacy-"); n != 12 {
		t.Errorf("%d error lines, want 12:\n%s", n, out.String())
	}
	if !strings.Contains(errOut.String(), "errors 12\n") {
		t.Errorf("the final progress line does not show 12 errors:\n%q", errOut.String())
	}
	wantRuns(t, dir, seeds, func(s seeded) bool { return s.status == recall.StatusFailed })
}
