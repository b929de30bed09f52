package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// A person's day: sign in with the link, post, see it pending, see it done
// with its summary without reloading, open it, reprocess, see the new run
// arrive — with axe on every view and screenshots of each.
func TestJourney(t *testing.T) {
	b := openTab(t)
	s := startRecall(t, "RECALL_ANALYZER_LATENCY=1500ms")
	modRoot(t)

	// The sign-in link: the token moves to sessionStorage and out of the
	// address bar and the history.
	b.do(chromedp.Navigate(s.url + "/"))
	b.waitFor("the sign-in view", `document.querySelector("#signin-link")`, 10*time.Second)
	b.axe("sign-in")
	b.shots("signin")
	tok := s.link[strings.Index(s.link, "#token=")+len("#token="):]
	b.signIn(s)
	if loc := js[string](b, "location.href"); strings.Contains(loc, "token") || loc != s.url+"/#/" {
		t.Errorf("address after sign-in: %q", loc)
	}
	hist, err := chromedp.Call(b.ctx, page.GetNavigationHistory, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range hist.Entries {
		if strings.Contains(e.URL, "token") {
			t.Errorf("history keeps the token: %s", e.URL)
		}
	}
	if got := js[string](b, `JSON.parse(sessionStorage.getItem("recall.token"))`); got != tok {
		t.Errorf("sessionStorage token = %.20q…, want the link's", got)
	}
	b.axe("empty list")

	// Post; it shows pending at once, then done with the summary, with no
	// reload (the marker set on this document survives).
	b.do(chromedp.Evaluate[chromedp.Void](`window.__sameDocument = true`))
	content := "Alice: I will send the deck to the board by Friday. Bob needs to fix the login bug before the release. We decided to freeze the billing API next month. 🚀"
	b.do(
		chromedp.SendKeys(chromedp.ID("f-title"), "Weekly sync"),
		chromedp.SendKeys(chromedp.ID("f-content"), content),
	)
	// Characters as the server counts them: the emoji is one.
	if got, want := b.text("#f-content-count"), fmt.Sprintf("%d / 100,000 characters", utf8.RuneCountInString(content)); got != want {
		t.Errorf("live count: %q, want %q", got, want)
	}
	b.do(chromedp.Click(chromedp.CSS(".post-form button[type=submit]")))
	b.waitFor("the new conversation", `document.querySelector(".conversation .badge")`, 5*time.Second)
	if st := b.text(".conversation .badge"); st != "pending" && st != "processing" {
		t.Errorf("right after posting the status is %q, want pending", st)
	}
	if st := b.text(".conversation .badge"); st != "pending" {
		t.Logf("status right after posting: %q", st)
	}
	b.axe("list with a pending conversation")
	b.shots("list-pending")
	b.waitFor("done on screen", `document.querySelector(".conversation .badge-done")`, 15*time.Second)
	summary := b.text(".conversation .summary")
	if summary == "" || !js[bool](b, "window.__sameDocument === true") {
		t.Fatalf("done without a summary (%q) or after a reload", summary)
	}
	conv := s.all()
	if len(conv) != 1 || conv[0].AISummary == nil || *conv[0].AISummary != summary {
		t.Fatalf("the API has %+v; the page shows summary %q", conv, summary)
	}
	// It was polled with ETags, and the server answered 304 while nothing
	// changed.
	gets := s.proxy.seen(`^GET /api/conversations/` + conv[0].ID + `$`)
	notModified := 0
	for _, e := range gets {
		if e.status == 304 {
			notModified++
			if e.reqHdr.Get("If-None-Match") == "" {
				t.Errorf("a 304 without If-None-Match")
			}
		}
	}
	if notModified == 0 {
		t.Errorf("no 304 among %d polls", len(gets))
	}
	b.axe("list")
	b.shots("list")

	// Open it: content, summary, action items, keywords, model, tokens.
	b.do(chromedp.Click(chromedp.CSS(".conversation a.title")))
	b.waitFor("the conversation", `document.querySelector('.detail[aria-busy="false"] #h-summary')`, 5*time.Second)
	for sel, want := range map[string]string{
		"h1":            "Weekly sync",
		".summary":      summary,
		".content":      conv[0].Content,
		".actions-list": conv[0].AIActionItems[0],
		".chips":        conv[0].AIKeywords[0],
		".facts":        "local-extractive",
	} {
		if got := b.text(sel); !strings.Contains(got, want) {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	if !strings.Contains(b.text(".facts"), "Tokens used") {
		t.Errorf("no tokens used: %q", b.text(".facts"))
	}
	b.axe("conversation")
	b.shots("conversation")

	// Reprocess: the new run shows up and arrives.
	before := len(s.proxy.seen(`^GET /api/conversations/` + conv[0].ID + `$`))
	b.do(chromedp.Click(chromedp.ID("reprocess")))
	b.waitFor("the new run", `["pending","processing"].includes(document.querySelector(".detail .badge")?.textContent)`, 5*time.Second)
	if js[string](b, `document.getElementById("reprocess").getAttribute("aria-disabled")`) != "true" {
		t.Errorf("Reprocess is enabled while the run is in progress")
	}
	b.waitFor("the new run done", `document.querySelector(".detail .badge-done") && document.querySelector("#h-summary")`, 15*time.Second)
	if len(s.proxy.seen(`^POST /api/conversations/`+conv[0].ID+`/reprocess$`)) != 1 {
		t.Errorf("reprocess calls: %d", len(s.proxy.seen(`/reprocess$`)))
	}
	if len(s.proxy.seen(`^GET /api/conversations/`+conv[0].ID+`$`)) == before {
		t.Errorf("the new run was not polled")
	}
	// Once done, the page stops asking.
	n := len(s.proxy.exchanges)
	time.Sleep(2 * time.Second)
	if extra := s.proxy.seen(`^GET /api/`); len(extra) > 0 && len(s.proxy.exchanges) != n {
		t.Errorf("%d requests after the analysis was final", len(s.proxy.exchanges)-n)
	}

	// The token never reached the server: not in a request line, not in
	// its log.
	if strings.Contains(s.logs.String(), tok) || strings.Contains(s.logs.String(), "token=") {
		t.Errorf("the server's log holds the token")
	}
	for _, e := range s.proxy.seen(`.`) {
		if strings.Contains(e.path, "token") {
			t.Errorf("a request carried the token in its URL: %s", e.path)
		}
	}
}
