package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Search and delete by keyboard: find a conversation by an inflection of
// a word in it, with the match marked and markup in its text shown as
// text; open another, cancel a delete with Escape, delete it with the
// dialog's button; then search no longer finds it. axe on each view.
func TestSearchAndDelete(t *testing.T) {
	b := openTab(t)
	s := startRecall(t)
	var keep, gone conversation
	if code := s.api("POST", "/api/conversations", `{"title": "Falcon launch", "content": "We will migrate the <b>push</b> service before the falcon launch."}`, &keep); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code := s.api("POST", "/api/conversations", `{"title": "Falcon retro", "content": "The falcon retro found two bugs in the rollout."}`, &gone); code != 201 {
		t.Fatalf("create: %d", code)
	}
	b.signIn(s)
	active := func() string {
		return js[string](b, `document.activeElement?.id || document.activeElement?.textContent || ""`)
	}
	tabTo := func(id string) {
		t.Helper()
		for range 20 {
			if active() == id {
				return
			}
			b.do(chromedp.KeyEvent(kb("Tab")))
		}
		t.Fatalf("Tab never reached %q (at %q)", id, active())
	}

	b.do(chromedp.Evaluate[chromedp.Void](`document.activeElement?.blur(); document.body.focus()`))
	tabTo("Search")
	b.do(chromedp.KeyEvent("\r"))
	b.waitFor("the search view", `document.querySelector("#q")`, 5*time.Second)
	b.axe("search")
	tabTo("q")
	b.do(chromedp.KeyEvent("migrating\r"))
	b.waitFor("results", `document.querySelector('#results[aria-busy="false"] li')`, 5*time.Second)
	if got := js[[]string](b, `[...document.querySelectorAll("#results li")].map(li => li.id)`); len(got) != 1 || got[0] != "r-"+keep.ID {
		t.Fatalf("results for migrating: %v, want only r-%s", got, keep.ID)
	}
	if got := b.text("#results mark"); got != "migrate" {
		t.Errorf("the mark holds %q, want migrate", got)
	}
	if js[int](b, `document.querySelectorAll("#results .highlight *:not(mark)").length`) != 0 ||
		!strings.Contains(b.text("#results .highlight"), "<b>push</b>") {
		t.Errorf("the highlight made markup of the text: %q", js[string](b, `document.querySelector("#results .highlight").innerHTML`))
	}
	if loc := js[string](b, "location.hash"); loc != "#/search/migrating" {
		t.Errorf("address after searching: %q", loc)
	}
	b.axe("search results")
	b.shots("search")

	// The other one: open it, ask to delete, change our mind with Escape.
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = "#/conversations/` + gone.ID + `"`))
	b.waitFor("the conversation", `document.querySelector('.detail[aria-busy="false"] #delete')`, 5*time.Second)
	tabTo("delete")
	b.do(chromedp.KeyEvent("\r"))
	b.waitFor("the dialog", `document.getElementById("delete-dialog").open`, 5*time.Second)
	if active() != "delete-cancel" {
		t.Errorf("focus in the dialog is on %q, want Cancel", active())
	}
	b.axe("delete dialog")
	b.shots("delete-dialog")
	b.do(chromedp.KeyEvent(kb("Escape")))
	b.waitFor("the dialog closed", `!document.getElementById("delete-dialog").open`, 5*time.Second)
	if active() != "delete" {
		t.Errorf("focus after Escape is on %q, want the Delete button", active())
	}
	if n := len(s.proxy.seen(`^DELETE `)); n != 0 {
		t.Fatalf("%d deletes sent before confirming", n)
	}

	// Now for real.
	b.do(chromedp.KeyEvent("\r"))
	b.waitFor("the dialog", `document.getElementById("delete-dialog").open`, 5*time.Second)
	tabTo("delete-confirm")
	b.do(chromedp.KeyEvent("\r"))
	b.waitFor("back on the list", `location.hash === "#/" && document.querySelector('#conversations[aria-busy="false"]')`, 5*time.Second)
	if code := s.api("GET", "/api/conversations/"+gone.ID, "", nil); code != 404 {
		t.Errorf("after deleting, GET answers %d", code)
	}
	if got := s.all(); len(got) != 1 || got[0].ID != keep.ID {
		t.Errorf("conversations left: %+v", got)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`location.hash = "#/search/falcon"`))
	b.waitFor("results", `document.querySelector('#results[aria-busy="false"]')`, 5*time.Second)
	if got := js[[]string](b, `[...document.querySelectorAll("#results li")].map(li => li.id)`); len(got) != 1 || got[0] != "r-"+keep.ID {
		t.Errorf("results for falcon after the delete: %v", got)
	}
}
