package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/fulltext"
	"recall/internal/recall"
)

// BenchmarkCreateHTTP measures creates through the real handler over real
// HTTP (keep-alive connections) on bbolt and the in-memory queue, with 32
// concurrent clients. It reports creates/s and the 99th percentile latency.
// Targets: at least 2,000 creates/s, p99 under 20 ms.
func BenchmarkCreateHTTP(b *testing.B) {
	createLoad(b, newEnv(b), nil)
}

// BenchmarkCreateIndexing is BenchmarkCreateHTTP without a search index
// and with the embedded full-text one (as recall serve runs), in one run,
// so the cost of indexing at create is measured against a baseline taken
// on the same machine at the same time. Target: creates/s with the index
// no more than 10% below without it. Creates answer before their index
// write (it is queued), so the time counted runs until the queue is
// written too: creates/s is what the index keeps up with, not only what
// was answered while its queue filled.
func BenchmarkCreateIndexing(b *testing.B) {
	b.Run("index=none", func(b *testing.B) { createLoad(b, newEnv(b), nil) })
	b.Run("index=fulltext", func(b *testing.B) {
		idx, err := fulltext.Open(filepath.Join(b.TempDir(), "search.bleve"), fulltext.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { idx.Close() })
		settle := func() error { return idx.Settle(context.Background()) }
		createLoad(b, newServiceEnv(b, func(c *recall.Config) { c.Index = idx }), settle)
	})
}

// createLoad posts conversations to e's handler from 32 concurrent clients
// and reports creates/s and the p99 latency. settle, if set, waits for
// work the creates left behind (the index queue); the time it takes
// counts.
func createLoad(b *testing.B, e *env, settle func() error) {
	const clients = 32
	srv := httptest.NewServer(e.handler)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2}}
	b.Cleanup(client.CloseIdleConnections)
	auth := "Bearer " + token(b, "bench")
	body := `{"content": "` + strings.Repeat("Benchmark conversation text. ", 20) + `", "title": "bench", "priority": "default"}`

	var mu sync.Mutex
	var latencies []time.Duration
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			req, err := http.NewRequest("POST", srv.URL+"/api/conversations", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", auth)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		latencies = append(latencies, local...)
		mu.Unlock()
	})
	if settle != nil {
		if err := settle(); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if len(latencies) == 0 {
		return
	}
	slices.Sort(latencies)
	p99 := latencies[min(len(latencies)-1, len(latencies)*99/100)]
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "creates/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

// BenchmarkListLarge is the worst page a client can ask for: GET
// ?limit=100 over 100 conversations of 100,000 '<' characters each (the
// character JSON escapes the most), on bbolt. It reports allocation per
// request (B/op), time (ms/op), the answer's size and the peak heap seen
// while serving. Targets: under 64 MB allocated and 200 ms per request
// (Lambda's get function has 256 MB in all).
func BenchmarkListLarge(b *testing.B) {
	e := newEnv(b)
	content := strings.Repeat("<", recall.MaxContentChars)
	for range 100 {
		e.create(b, "alice", content)
	}
	runtime.GC()
	peak := watchHeap(b)
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		w := e.do(b, req{method: "GET", target: "/api/conversations?limit=100", as: "alice"})
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
	b.ReportMetric(float64(size), "resp-bytes")
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MB")
}

// watchHeap samples the heap's size (live and not yet collected objects)
// every millisecond until the benchmark ends; the function it returns
// reads the largest seen so far.
func watchHeap(b *testing.B) func() uint64 {
	var mu sync.Mutex
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				metrics.Read(sample)
				mu.Lock()
				peak = max(peak, sample[0].Value.Uint64())
				mu.Unlock()
			}
		}
	}()
	b.Cleanup(func() { close(stop); <-done })
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
