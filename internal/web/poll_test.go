package web_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"recall/internal/httpapi"
	"recall/internal/web"
)

// The polling schedule, run in the browser from the module the page uses
// (js/poll.js's nextDelay): how long the page waits before its next poll
// bounds how late it shows an analysis that has finished, and how many
// requests an open page costs the server. BenchmarkPollLoad measures both
// end to end.
func TestPollBackoff(t *testing.T) {
	b := openTab(t)
	app, err := web.New(web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	site := httptest.NewServer(httpapi.Routes(nil, httpapi.Options{Only: []string{httpapi.FunctionWeb}, Web: app}))
	t.Cleanup(site.Close)
	b.do(chromedp.Navigate(site.URL + "/#/"))
	b.waitFor("the page", `document.querySelector("main form, main button")`, 10*time.Second)

	const minute = 60000
	tests := []struct {
		name  string
		delay int
		opts  string // nextDelay's options, as a JavaScript object
		want  int
	}{
		// In progress, nothing changed yet: doubling from 250 ms to a 1 s
		// ceiling, so done shows within about a second.
		{"first wait doubles", 250, `{}`, 500},
		{"doubles to the ceiling", 500, `{}`, 1000},
		{"stays at the ceiling", 1000, `{quietFor: 90000}`, 1000},
		{"a change starts again", 0, `{}`, 250},
		// Unchanged longer than an analysis takes: the ceiling grows.
		{"quiet, not yet", 1000, fmt.Sprintf(`{quietFor: %d}`, 2*minute-1), 1000},
		{"quiet", 1000, fmt.Sprintf(`{quietFor: %d}`, 2*minute), 2000},
		{"quiet ceiling", 4000, fmt.Sprintf(`{quietFor: %d}`, 10*minute), 5000},
		// The page's watchers share about 2 polls a second: two poll as
		// one does; more wait their share from the start.
		{"two watchers", 250, `{watchers: 2}`, 500},
		{"two watchers' ceiling", 1000, `{watchers: 2}`, 1000},
		{"four watchers", 250, `{watchers: 4}`, 2000},
		{"ten watchers after a change", 0, `{watchers: 10}`, 5000},
		{"ten watchers", 5000, `{watchers: 10}`, 5000},
		{"twenty watchers", 8000, `{watchers: 20}`, 10000},
		// Failures back off further, whatever the ceiling.
		{"failed", 1000, `{failed: true}`, 2000},
		{"failed after a change", 0, `{failed: true}`, 500},
		{"failed ceiling", 8000, `{failed: true}`, 8000},
	}
	prefix := app.AssetPrefix()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := js[float64](b, fmt.Sprintf(`import(%q).then((m) => m.nextDelay(%d, %s))`, prefix+"js/poll.js", tt.delay, tt.opts))
			if int(got) != tt.want {
				t.Errorf("nextDelay(%d, %s) = %v ms; want %d", tt.delay, tt.opts, got, tt.want)
			}
		})
	}

	// From the first poll of a conversation in progress, the waits reach
	// the 1 s ceiling within three polls and stay there for the length of
	// any one analysis (RECALL_ANALYZE_TIMEOUT is at most 90 s).
	raw := js[string](b, fmt.Sprintf(`import(%q).then((m) => {
		const waits = []; let d = m.MIN_DELAY, t = 0;
		while (t < 110000) { waits.push(d); t += d; d = m.nextDelay(d, {quietFor: t}); }
		return JSON.stringify(waits);
	})`, prefix+"js/poll.js"))
	var waits []int
	if err := json.Unmarshal([]byte(raw), &waits); err != nil {
		t.Fatal(err)
	}
	if len(waits) < 3 || waits[0] != 250 || waits[1] != 500 || waits[2] != 1000 {
		t.Fatalf("waits %v; want 250, 500, 1000, …", waits)
	}
	for i, w := range waits[2:] {
		if w != 1000 {
			t.Fatalf("wait %d is %d ms within the first 110 s: %v", i+2, w, waits)
		}
	}
}
