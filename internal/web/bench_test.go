package web_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// BenchmarkTimeToList measures, in the page (performance.mark), the time
// from navigation to the first page of 20 conversations rendered, against
// a real recall serve on localhost: "warm" with the immutable assets
// cached (a daily visit), "cold" with the browser cache cleared before
// each load. Reports the median and p90. Target: median < 300 ms.
func BenchmarkTimeToList(b *testing.B) {
	for _, mode := range []string{"warm", "cold"} {
		b.Run(mode, func(bb *testing.B) {
			tb := openTab(bb)
			s := startRecall(bb)
			for i := range 20 {
				s.api("POST", "/api/conversations", fmt.Sprintf(`{"title": "Note %d", "content": "Alice will check item %d by Friday."}`, i, i), nil)
			}
			tb.signIn(s)
			var ms []float64
			i := 0
			for bb.Loop() {
				i++
				if mode == "cold" {
					if _, err := chromedp.Call(tb.ctx, network.ClearBrowserCache, cdp.Empty{}); err != nil {
						bb.Fatal(err)
					}
				}
				tb.do(chromedp.Navigate(fmt.Sprintf("%s/?load=%d#/", s.url, i)))
				tb.waitFor("the list", `performance.getEntriesByName("recall:list").length`, 10*time.Second)
				ms = append(ms, js[float64](tb, `performance.getEntriesByName("recall:list")[0].startTime`))
			}
			slices.Sort(ms)
			bb.ReportMetric(ms[len(ms)/2], "median-ms")
			bb.ReportMetric(ms[len(ms)*9/10], "p90-ms")
		})
	}
}

// BenchmarkPollLoad measures what one open page costs the server while
// conversations are in progress and after they are done, and how late it
// shows an analysis that has finished. The analyses are slowed to 20 s
// (RECALL_ANALYZER_LATENCY) so the backoff reaches its ceiling.
//
//   - one: a conversation's own view. Reports requests per second while it
//     is in progress (and the share of 304s), after it is done, and the
//     time from processed_at to done on screen.
//   - list-10: the list with ten conversations in progress, whose watchers
//     share the page's polling budget. Reports the page's requests per
//     second while they are in progress and the time from the last
//     processed_at to all ten done on screen.
func BenchmarkPollLoad(b *testing.B) {
	b.Run("one", func(b *testing.B) {
		for b.Loop() {
			tb := openTab(b)
			s := startRecall(b, "RECALL_ANALYZER_LATENCY=20s")
			tb.signIn(s)
			var c conversation
			s.api("POST", "/api/conversations", `{"title": "Slow", "content": "Bob will write the report."}`, &c)
			start := time.Now()
			tb.do(chromedp.Navigate(s.url + "/#/conversations/" + c.ID))
			tb.waitFor("done on screen", `document.querySelector(".detail .badge-done")`, 60*time.Second)
			shown := time.Now()
			var done struct {
				ProcessedAt time.Time `json:"processed_at"`
			}
			s.api("GET", "/api/conversations/"+c.ID, "", &done)
			polls := s.proxy.seen(`^GET /api/conversations/` + c.ID + `$`)
			var during, notModified int
			for _, e := range polls {
				if e.at.Before(done.ProcessedAt) {
					during++
					if e.status == 304 {
						notModified++
					}
				}
			}
			pending := done.ProcessedAt.Sub(start)
			before := len(s.proxy.seen(`^[A-Z]+ /api/`))
			time.Sleep(10 * time.Second)
			after := len(s.proxy.seen(`^[A-Z]+ /api/`)) - before
			b.ReportMetric(float64(during)/pending.Seconds(), "req/s-in-progress")
			b.ReportMetric(float64(notModified)/float64(max(during, 1))*100, "%304")
			b.ReportMetric(float64(after)/10, "req/s-after-done")
			b.ReportMetric(float64(shown.Sub(done.ProcessedAt).Milliseconds()), "ms-done-to-screen")
			if strings.Contains(s.logs.String(), "token=") {
				b.Error("token in the server log")
			}
		}
	})
	b.Run("list-10", func(b *testing.B) {
		for b.Loop() {
			tb := openTab(b)
			s := startRecall(b, "RECALL_ANALYZER_LATENCY=20s", "RECALL_CONCURRENCY=10")
			tb.signIn(s)
			ids := make([]string, 10)
			for i := range ids {
				var c conversation
				s.api("POST", "/api/conversations", fmt.Sprintf(`{"title": "Slow %d", "content": "Bob will write report %d."}`, i, i), &c)
				ids[i] = c.ID
			}
			start := time.Now()
			// A new load of the list (signIn left the page on it, before
			// these existed).
			tb.do(chromedp.Navigate(s.url + "/?list#/"))
			tb.waitFor("all done on screen", `document.querySelectorAll("#conversations .badge-done").length === 10`, 90*time.Second)
			shown := time.Now()
			var first, last time.Time
			for _, id := range ids {
				var done struct {
					ProcessedAt time.Time `json:"processed_at"`
				}
				s.api("GET", "/api/conversations/"+id, "", &done)
				if first.IsZero() || done.ProcessedAt.Before(first) {
					first = done.ProcessedAt
				}
				if done.ProcessedAt.After(last) {
					last = done.ProcessedAt
				}
			}
			during := 0
			for _, e := range s.proxy.seen(`^GET /api/conversations/[^/]+$`) {
				if e.at.After(start) && e.at.Before(first) {
					during++
				}
			}
			b.ReportMetric(float64(during)/first.Sub(start).Seconds(), "req/s-in-progress")
			b.ReportMetric(float64(shown.Sub(last).Milliseconds()), "ms-last-done-to-screen")
		}
	})
}
