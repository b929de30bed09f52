package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"recall/internal/httpapi"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
)

// seedItems gives owner convs analysed conversations of perConv open
// action items each, straight through the store: ten owners take turns,
// and three items in four have a due date spread over 200 days.
func seedItems(b *testing.B, s recall.Store, owner string, convs, perConv int) {
	b.Helper()
	ctx := b.Context()
	t0 := time.Date(2026, time.January, 5, 9, 0, 0, 0, time.UTC)
	names := []string{"Alice", "Bob", "Carol", "Dan", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy"}
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				c, _, err := s.Create(ctx, recalltest.NewConversation(owner, t0.Add(time.Duration(i)*time.Minute)), nil)
				if err != nil {
					b.Error(err)
					return
				}
				a := &recall.Analysis{Summary: "s"}
				for k := range perConv {
					n := i*perConv + k
					var due *recall.Date
					if n%4 != 0 {
						d := recall.DateOf(t0).AddDays(n % 200)
						due = &d
					}
					a.Items = append(a.Items, recall.NewActionItem(fmt.Sprintf("Send report %d of meeting %d", k, i), names[n%len(names)], due))
				}
				if c, err = s.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventStart, At: c.CreatedAt}); err == nil {
					_, err = s.Transition(ctx, c.Ref(), recall.Transition{Event: recall.EventDone, At: c.CreatedAt.Add(time.Second), Analysis: a})
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	for i := range convs {
		work <- i
	}
	close(work)
	wg.Wait()
}

// BenchmarkListActionItems measures GET /api/action-items over real HTTP
// for an owner with 10,000 open action items (500 conversations of 20) on
// bbolt: a mix of the first page, a page deep into the listing (by
// cursor), a filter by owner, a due-date window and every status, 50
// items each. It reports the 50th and 99th percentile latency of a
// request. Target: p99 under 20 ms.
func BenchmarkListActionItems(b *testing.B) {
	e := newEnv(b)
	seedItems(b, e.store, "bench", 500, 20)
	srv := httptest.NewServer(e.handler)
	b.Cleanup(srv.Close)
	auth := "Bearer " + token(b, "bench")
	get := func(q string) httpapi.ActionItemList {
		req, err := http.NewRequest("GET", srv.URL+"/api/action-items?"+q, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("GET ?%s: %d %s %v", q, resp.StatusCode, body, err)
		}
		var page httpapi.ActionItemList
		if err := json.Unmarshal(body, &page); err != nil {
			b.Fatal(err)
		}
		return page
	}
	// A cursor 5,000 items in: 100 pages of 50.
	deep := ""
	for range 100 {
		p := get("limit=50" + deep)
		if p.NextCursor == nil {
			b.Fatal("fewer than 5,000 open items")
		}
		deep = "&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	queries := []string{"", "limit=50" + deep, "owner=carol", "due_after=2026-03-01&due_before=2026-04-01", "status=all", "status=done"}
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		q := queries[i%len(queries)]
		t0 := time.Now()
		p := get(q)
		lat = append(lat, time.Since(t0))
		if q != "status=done" && len(p.Items) != 50 {
			b.Fatalf("?%s gave %d items", q, len(p.Items))
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
