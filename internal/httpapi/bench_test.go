package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkCreateHTTP measures creates through the real handler over real
// HTTP (keep-alive connections) on bbolt and the in-memory queue, with 32
// concurrent clients. It reports creates/s and the 99th percentile latency.
// Targets: at least 2,000 creates/s, p99 under 20 ms.
func BenchmarkCreateHTTP(b *testing.B) {
	const clients = 32
	e := newEnv(b)
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
