package extract

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"recall/internal/recall"
)

// conversation2KB returns a ~2 KB chat: the support thread followed by the
// start of the incident chat, cut at a line boundary.
func conversation2KB(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	for _, name := range []string{"support-thread.txt", "incident-chat.txt"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			if b.Len()+len(line) > 2048 {
				return b.String()
			}
			b.WriteString(line)
		}
	}
	return b.String()
}

// longConversation returns a generated chat of about n bytes: many speakers,
// timestamps, varied sentences and some commitments, built from a fixed
// seed so every run analyses the same text.
func longConversation(n int) string {
	rng := rand.New(rand.NewPCG(1, 2))
	speakers := []string{"Alice", "Bob", "Carol", "Dev", "Erin", "Farid"}
	subjects := []string{"the checkout service", "the billing worker", "our Redis cluster", "the search index", "the mobile release", "the onboarding flow", "the invoice export", "the payments client"}
	predicates := []string{"is timing out under load", "needs a new connection pool", "failed its canary in eu-west-1", "looks healthy since the rollback", "has a memory leak after 6 hours", "is blocked on the security review", "shipped to 10% of users", "doubled its p99 latency"}
	tails := []string{"", " since Tuesday", " after the 2.4.1 deploy", " according to the dashboard", ", which worries me", " for customers in Brazil"}
	commitments := []string{"I'll open a ticket for %s.", "can you take a look at %s?", "we need to load-test %s before Friday.", "let's review %s at the ops sync.", "TODO: write a runbook for %s"}
	var b strings.Builder
	for minute := 0; b.Len() < n; minute++ {
		who := speakers[rng.IntN(len(speakers))]
		subject := subjects[rng.IntN(len(subjects))]
		fmt.Fprintf(&b, "[%02d:%02d] %s: ", 9+minute/60%12, minute%60, who)
		if rng.IntN(6) == 0 {
			fmt.Fprintf(&b, commitments[rng.IntN(len(commitments))], subject)
		} else {
			fmt.Fprintf(&b, "%s %s%s.", capitalize(subject), predicates[rng.IntN(len(predicates))], tails[rng.IntN(len(tails))])
		}
		b.WriteByte('\n')
	}
	return b.String()[:n]
}

func benchmarkAnalyze(b *testing.B, content string) {
	a := New(Options{})
	in := recall.AnalysisInput{Title: "Ops channel", Content: content}
	ctx := context.Background()
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Analyze(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnalyze2KB measures a typical conversation; the target is at
// least 1,000 analyses per second per core (≤ 1 ms/op).
func BenchmarkAnalyze2KB(b *testing.B) {
	benchmarkAnalyze(b, conversation2KB(b))
}

// BenchmarkAnalyze100KB measures the largest content the API accepts.
func BenchmarkAnalyze100KB(b *testing.B) {
	benchmarkAnalyze(b, longConversation(recall.MaxContentChars))
}

// BenchmarkAnalyze2KBParallel measures throughput with every core busy, as
// in a worker pool: ns/op is wall time per analysis across all goroutines.
func BenchmarkAnalyze2KBParallel(b *testing.B) {
	a := New(Options{})
	in := recall.AnalysisInput{Title: "Ops channel", Content: conversation2KB(b)}
	b.SetBytes(int64(len(in.Content)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := a.Analyze(ctx, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
