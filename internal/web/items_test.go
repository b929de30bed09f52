package web_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// listedItem is the part of an item of GET /api/action-items the tests read.
type listedItem struct {
	ID             string  `json:"id"`
	Text           string  `json:"text"`
	Due            *string `json:"due"`
	Done           bool    `json:"done"`
	ConversationID string  `json:"conversation_id"`
}

// items lists alice's action items of one status, through the API.
func (s *recallServer) items(status string) []listedItem {
	s.t.Helper()
	var page struct {
		Items []listedItem `json:"items"`
	}
	if code := s.api("GET", "/api/action-items?limit=100&status="+status, "", &page); code != 200 {
		s.t.Fatalf("list action items: %d", code)
	}
	return page.Items
}

// TestActionItemsView: "My action items" groups the open items of every
// conversation as overdue, due this week, later and undated, links each
// to its conversation, and ticks one off from the keyboard: the tick
// reaches the server and is still there after a reload. axe finds nothing
// serious on the way.
func TestActionItemsView(t *testing.T) {
	b := openTab(t)
	s := startRecall(t)
	modRoot(t)
	// The browser's days are UTC's, as the server's are, so "this week"
	// means one thing on both sides.
	if _, err := chromedp.Call(b.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "UTC"}); err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC()
	day := func(d int) string { return today.AddDate(0, 0, d).Format(time.DateOnly) }
	notes := map[string]string{
		"Retro":    fmt.Sprintf("Alice: I will send the retro notes by %s.\nBob: I'll archive the old board.", day(-3)),
		"Planning": fmt.Sprintf("Carol will book the room by %s.\nDan will draft the budget by %s.", day(0), day(40)),
	}
	for title, content := range notes {
		body, _ := json.Marshal(map[string]string{"title": title, "content": content})
		if code := s.api("POST", "/api/conversations", string(body), nil); code != 201 {
			t.Fatalf("create %s: %d", title, code)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(s.items("open")) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the analyses gave %d open items, want 4", len(s.items("open")))
		}
		time.Sleep(50 * time.Millisecond)
	}
	convs := map[string]string{} // title → id
	for _, c := range s.all() {
		convs[c.Title] = c.ID
	}

	b.signIn(s)
	b.do(chromedp.Click(chromedp.CSS(`#nav a[href="#/action-items"]`)))
	b.waitFor("the action items", `document.querySelector('#action-items[aria-busy="false"] .action-item')`, 10*time.Second)
	if js[string](b, `document.activeElement?.tagName`) != "H1" || b.text("h1") != "My action items" {
		t.Errorf("focus is not on the view's heading %q", b.text("h1"))
	}
	for _, g := range []struct{ group, text, conv string }{
		{"overdue", "retro notes", "Retro"},
		{"week", "book the room", "Planning"},
		{"later", "draft the budget", "Planning"},
		{"undated", "archive the old board", "Retro"},
	} {
		got := js[[]string](b, fmt.Sprintf(`[...document.querySelectorAll(".group-%s .action-item")].map(li =>
			li.querySelector("label").textContent.toLowerCase() + "|" + li.querySelector(".meta a").getAttribute("href"))`, g.group))
		want := g.text + "|#/conversations/" + convs[g.conv]
		if len(got) != 1 || !strings.Contains(got[0], g.text) || !strings.HasSuffix(got[0], "|#/conversations/"+convs[g.conv]) {
			t.Errorf("group %s holds %q, want one item like %q", g.group, got, want)
		}
	}
	if order := js[[]string](b, `[...document.querySelectorAll(".item-group h2")].map(h => h.id)`); strings.Join(order, " ") != "g-overdue g-week g-later g-undated" {
		t.Errorf("groups in the order %v", order)
	}
	b.axe("action items")
	b.shots("action-items")

	// Tick the room off from the keyboard: from the overdue item's link,
	// Tab to the next checkbox, then Space.
	box := `document.querySelector(".group-week input[type=checkbox]")`
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector(".group-overdue .meta a").focus()`))
	b.do(chromedp.KeyEvent(kb("Tab")))
	if !js[bool](b, `document.activeElement === `+box) {
		t.Fatalf("Tab does not reach the checkbox; focus is on %s", js[string](b, `document.activeElement.outerHTML.slice(0, 120)`))
	}
	b.do(chromedp.KeyEvent(" "))
	b.waitFor("the tick saved", `document.querySelector(".group-week .action-item.done:not([aria-busy])")`, 5*time.Second)
	if patches := s.proxy.seen(`^PATCH /api/conversations/` + convs["Planning"] + `/action-items/[0-9a-f]+$`); len(patches) != 1 || patches[0].status != 200 {
		t.Fatalf("PATCH requests: %+v", patches)
	}
	if !js[bool](b, box+`.checked`) {
		t.Error("the checkbox is not checked after the tick")
	}
	b.axe("action items with one ticked")
	done := s.items("done")
	if len(done) != 1 || !strings.Contains(strings.ToLower(done[0].Text), "book the room") {
		t.Fatalf("done on the server: %+v", done)
	}

	// After a reload the room is gone from the open items; the others stay.
	b.do(chromedp.Reload())
	b.waitFor("the action items again", `document.querySelector('#action-items[aria-busy="false"] .action-item')`, 10*time.Second)
	texts := strings.ToLower(b.text("#action-items"))
	if strings.Contains(texts, "book the room") || b.text(".group-week") != "" {
		t.Errorf("after a reload the ticked item is still listed: %q", texts)
	}
	for _, want := range []string{"retro notes", "draft the budget", "archive the old board"} {
		if !strings.Contains(texts, want) {
			t.Errorf("after a reload %q is missing: %q", want, texts)
		}
	}

	// Opening it again from the conversation's link works as a link.
	b.do(chromedp.Click(chromedp.CSS(".group-later .meta a")))
	b.waitFor("the conversation", `document.querySelector('.detail[aria-busy="false"] h1')`, 5*time.Second)
	if got := b.text("h1"); got != "Planning" {
		t.Errorf("the link led to %q", got)
	}
}
