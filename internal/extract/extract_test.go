package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"recall/internal/recall"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the analyzer's output")

// goldenInputs lists the example conversations in testdata: every file that
// is not a golden file.
func goldenInputs(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".golden.json") {
			continue
		}
		names = append(names, e.Name())
	}
	if len(names) < 4 {
		t.Fatalf("want at least 4 examples in testdata, found %d", len(names))
	}
	return names
}

// goldenCreatedAt is when the golden examples were "posted", a Monday: the
// day their due dates ("by Friday", "by 15 March") are resolved against.
var goldenCreatedAt = time.Date(2026, time.March, 9, 9, 0, 0, 0, time.UTC)

// TestGolden analyses each example conversation in testdata and compares
// the result with its reviewed golden file. Run with -update to rewrite the
// goldens after a deliberate change, then review the diff.
func TestGolden(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	for _, name := range goldenInputs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			content, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Analyze(t.Context(), recall.AnalysisInput{ConversationID: name, Content: string(content), CreatedAt: goldenCreatedAt})
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			gotJSON = append(gotJSON, '\n')
			golden := filepath.Join("testdata", strings.TrimSuffix(name, filepath.Ext(name))+".golden.json")
			if *update {
				if err := os.WriteFile(golden, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(gotJSON, want) {
				t.Errorf("analysis of %s differs from %s\ngot:\n%s\nwant:\n%s", name, golden, gotJSON, want)
			}
		})
	}
}

// TestAnalyzeDeterministic runs each example twice, and concurrently, and
// wants the same analysis every time.
func TestAnalyzeDeterministic(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	for _, name := range goldenInputs(t) {
		content, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		in := recall.AnalysisInput{Title: "Weekly sync", Content: string(content)}
		first, err := a.Analyze(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		results := make(chan recall.Analysis, 4)
		for range 4 {
			go func() {
				got, _ := a.Analyze(context.Background(), in)
				results <- got
			}()
		}
		for range 4 {
			if got := <-results; !equalAnalysis(got, first) {
				t.Errorf("%s: analysis changed between runs:\n%+v\n%+v", name, got, first)
			}
		}
	}
}

func equalAnalysis(a, b recall.Analysis) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

func TestAnalyzerContract(t *testing.T) {
	t.Parallel()
	a := New(Options{})
	got, err := a.Analyze(t.Context(), recall.AnalysisInput{Content: "We need to rotate the API keys before the audit."})
	if err != nil {
		t.Fatal(err)
	}
	if got.Model != Model || Model != "local-extractive" {
		t.Errorf("Model = %q, want %q", got.Model, "local-extractive")
	}
	if got.Usage != (recall.Usage{}) || got.Calls != 0 || got.Cached {
		t.Errorf("usage = %+v calls=%d cached=%v, want zero", got.Usage, got.Calls, got.Cached)
	}
	if got.ActionItems == nil || got.Keywords == nil {
		t.Errorf("nil slices would marshal as null: %+v", got)
	}
	state, err := a.Health(t.Context())
	if state != "local" || err != nil {
		t.Errorf("Health = %q, %v; want \"local\", nil", state, err)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	in := recall.AnalysisInput{Content: "Alice: I'll send the deck by Friday."}

	t.Run("waits", func(t *testing.T) {
		t.Parallel()
		a := New(Options{Latency: 30 * time.Millisecond})
		start := time.Now()
		got, err := a.Analyze(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 30*time.Millisecond {
			t.Errorf("Analyze took %v, want at least the 30ms latency", took)
		}
		if got.Summary == "" {
			t.Error("empty summary after waiting")
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		t.Parallel()
		a := New(Options{Latency: time.Minute})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := a.Analyze(ctx, in)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("Analyze ignored cancellation for %v", took)
		}
		if recall.ErrorCode(err) != recall.EUNAVAILABLE || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want EUNAVAILABLE wrapping the deadline", err)
		}
		if !recall.Retryable(err) {
			t.Error("a cancelled analysis must be retryable")
		}
	})
	t.Run("cancelled before", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := New(Options{}).Analyze(ctx, in)
		if recall.ErrorCode(err) != recall.EUNAVAILABLE || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want EUNAVAILABLE wrapping context.Canceled", err)
		}
	})
}
