package backends_test

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"recall/internal/backends"
	"recall/internal/config"
	"recall/internal/embedded"
	"recall/internal/recall"
)

// BenchmarkReindexFromStore measures what `recall reindex` does: read every
// conversation from the embedded store and rebuild the embedded index
// (Backends.Reindex), over 20,000 done conversations of about 200 words
// each, in conversations per second. Target: at least 2,000/s.
func BenchmarkReindexFromStore(b *testing.B) {
	const n = 20_000
	cfg, err := config.FromLookup(config.Local, lookup(map[string]string{"RECALL_DATA_DIR": b.TempDir()}))
	if err != nil {
		b.Fatal(err)
	}
	be, err := backends.OpenStore(b.Context(), cfg, slog.New(slog.DiscardHandler), embedded.Openers())
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	fill(b, be.Store, n)
	if err := be.OpenIndex(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		got, err := be.Reindex(b.Context(), nil)
		if err != nil || got != n {
			b.Fatalf("Reindex = %d, %v", got, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "conv/s")
	// The process's CPU time per conversation does not depend on what else
	// the machine runs, as the wall-clock rate does: 2 cores divided by it
	// is the rate on an idle two-core machine.
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/1000/float64(n*b.N), "cpu-ms/conv")
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fill stores n done conversations of one owner: words drawn from a
// vocabulary of 5,000, 30 to 400 words each, with a summary, three action
// items and five keywords.
func fill(b *testing.B, s recall.Store, n int) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 5000)
	for i := range vocab {
		vocab[i] = fmt.Sprintf("w%dx", i)
	}
	words := func(k int) string {
		var sb strings.Builder
		for i := range k {
			if i > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(vocab[int(r.ExpFloat64()*600)%len(vocab)])
		}
		return sb.String()
	}
	at := time.Now().Add(-time.Hour)
	for i := range n {
		now := at.Add(time.Duration(i) * time.Millisecond)
		c := &recall.Conversation{ID: recall.NewID(now), Owner: "bench", Title: words(4), Content: words(30 + r.IntN(370)),
			Summary: words(30), ActionItems: []string{words(8), words(8), words(8)}, Keywords: strings.Fields(words(5)),
			Status: recall.StatusDone, Run: 1, CreatedAt: now, UpdatedAt: now, Priority: recall.PriorityDefault}
		if _, _, err := s.Create(b.Context(), c, nil); err != nil {
			b.Fatal(err)
		}
	}
}
