package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// setContent fills the content field at once (typing 100,000 keys would
// take minutes) and lets the page see it as typed.
func (b *tab) setContent(expr string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`(() => { const c = document.getElementById("f-content");
		c.value = ` + expr + `; c.dispatchEvent(new Event("input", {bubbles: true})); })()`))
}

func (b *tab) submit() {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(".post-form button[type=submit]")))
}

// The 100,000-character limit: the count says when it is crossed, and what
// the server answers (400 over the limit, 413 over 1 MiB) shows next to
// the field, in the server's words.
func TestLimits(t *testing.T) {
	b := openTab(t)
	tt := b.t
	s := startRecall(t)
	b.signIn(s)

	b.setContent(`"a".repeat(100000)`)
	if got := b.text("#f-content-count"); got != "100,000 / 100,000 characters" || js[bool](b, `document.getElementById("f-content-count").classList.contains("over")`) {
		t.Errorf("at the limit: %q", got)
	}
	b.setContent(`"é".repeat(100001)`)
	if got := b.text("#f-content-count"); got != "100,001 / 100,000 characters: 1 over the limit" {
		t.Errorf("over the limit: %q", got)
	}
	tests := []struct {
		name, content, title string
		status               int
		field                string
		message              string
	}{
		{"over 100,000 characters", `"é".repeat(100001)`, "", 400, "content", "content is 100001 characters; the limit is 100000"},
		{"over 1 MiB", `"a".repeat(1100000)`, "", 413, "content", "The request body is larger than 1048576 bytes."},
		{"title too long", `"fine"`, strings.Repeat("t", 501), 400, "title", "title is 501 characters; the limit is 500"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = tt }()
			b.setContent(tc.content)
			b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById("f-title").value = %q`, tc.title)))
			before := len(s.proxy.seen(`^POST /api/conversations$`))
			b.submit()
			sel := "#f-" + tc.field + "-error"
			b.waitFor("the server's message", `!document.querySelector("`+sel+`").hidden`, 10*time.Second)
			posts := s.proxy.seen(`^POST /api/conversations$`)
			if len(posts) != before+1 || posts[len(posts)-1].status != tc.status {
				t.Fatalf("posts %d→%d, last status %d, want %d", before, len(posts), posts[len(posts)-1].status, tc.status)
			}
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			_ = json.Unmarshal([]byte(posts[len(posts)-1].respBody), &e)
			if got := b.text(sel); got != e.Error.Message || got != tc.message {
				t.Errorf("shown %q; the server said %q; want %q", got, e.Error.Message, tc.message)
			}
			if !js[bool](b, `document.getElementById("f-`+tc.field+`").getAttribute("aria-invalid") === "true" && document.activeElement.id === "f-`+tc.field+`"`) {
				t.Errorf("the %s field is not marked invalid and focused", tc.field)
			}
		})
	}
	if n := len(s.all()); n != 0 {
		t.Errorf("%d conversations created", n)
	}
	b.shots("limit")
}

// An expired token brings the person back to sign in; what they were
// writing is still there afterwards and posts.
func TestExpiredTokenKeepsDraft(t *testing.T) {
	b := openTab(t)
	s := startRecall(t)
	b.signIn(s)
	b.do(
		chromedp.SendKeys(chromedp.ID("f-title"), "Draft title"),
		chromedp.SendKeys(chromedp.ID("f-content"), "Half-written notes that must not be lost."),
		chromedp.SetValue(chromedp.ID("f-priority"), "high"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("f-priority").dispatchEvent(new Event("input", {bubbles: true}))`),
	)
	expired := token(t, "alice", time.Now().Add(-time.Minute))
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`sessionStorage.setItem("recall.token", JSON.stringify(%q))`, expired)))
	b.submit()
	b.waitFor("the sign-in view", `document.getElementById("signin-link")`, 10*time.Second)
	if got := b.text(".notice"); !strings.Contains(got, "token expired") || !strings.Contains(got, "kept") {
		t.Errorf("sign-in message: %q", got)
	}
	if js[string](b, `sessionStorage.getItem("recall.token") ?? ""`) != "" {
		t.Errorf("the rejected token is still kept")
	}
	b.axe("sign-in after expiry")
	b.shots("signin-expired")
	// Sign in again by pasting the link, keyboard only.
	b.do(chromedp.Focus(chromedp.ID("signin-link")))
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById("signin-link").value = %q`, s.link)))
	b.do(chromedp.KeyEvent("\r"))
	b.waitFor("the list", `document.querySelector('#conversations[aria-busy="false"]')`, 10*time.Second)
	for id, want := range map[string]string{"f-title": "Draft title", "f-content": "Half-written notes that must not be lost.", "f-priority": "high"} {
		if got := js[string](b, `document.getElementById("`+id+`").value`); got != want {
			t.Errorf("%s after signing in again: %q, want %q", id, got, want)
		}
	}
	b.submit()
	b.waitFor("the post", `document.querySelector(".conversation")`, 10*time.Second)
	all := s.all()
	if len(all) != 1 || all[0].Title != "Draft title" || all[0].Priority != "high" {
		t.Errorf("conversations: %+v", all)
	}
	if got := js[string](b, `document.getElementById("f-content").value`); got != "" {
		t.Errorf("the form still holds %q after posting", got)
	}
}

// Whatever people write is shown as text: nothing in a title or content
// runs, and no element comes from it.
func TestContentIsText(t *testing.T) {
	b := openTab(t)
	s := startRecall(t)
	payloads := []string{
		`<img src=x onerror=alert(1)>`,
		`<script>alert(2)</script>`,
		`"><svg onload=alert(3)>`,
		`<a href="javascript:alert(4)">click</a>`,
	}
	for _, p := range payloads {
		body, _ := json.Marshal(map[string]string{"title": p, "content": p + " Alice will review the XSS report."})
		if code := s.api("POST", "/api/conversations", string(body), nil); code != http.StatusCreated {
			t.Fatalf("create: %d", code)
		}
	}
	b.signIn(s)
	b.waitFor("every conversation done", `document.querySelectorAll(".conversation .badge-done").length === 4`, 15*time.Second)
	// The form too: typed in and posted through the page.
	b.do(
		chromedp.SendKeys(chromedp.ID("f-title"), payloads[1]),
		chromedp.SendKeys(chromedp.ID("f-content"), payloads[0]),
	)
	b.submit()
	b.waitFor("the fifth", `document.querySelectorAll(".conversation .badge-done").length === 5`, 15*time.Second)
	titles := js[[]string](b, `[...document.querySelectorAll(".conversation a.title")].map(a => a.textContent)`)
	for _, p := range payloads {
		found := false
		for _, got := range titles {
			found = found || got == p
		}
		if !found {
			t.Errorf("title %q is not shown as text; titles: %q", p, titles)
		}
	}
	noMarkup := func(where string) {
		t.Helper()
		n := js[int](b, `document.querySelectorAll("main img, main script, main svg, main a[href^='javascript']").length + document.querySelectorAll("body script:not([src])").length`)
		if n != 0 {
			t.Errorf("%s: %d elements made from content", where, n)
		}
	}
	noMarkup("list")
	b.shots("xss-list")
	for i := range 2 {
		b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(".conversation:nth-child(%d) a.title", i+1))))
		b.waitFor("the conversation", `document.querySelector('.detail[aria-busy="false"] .content')`, 5*time.Second)
		if h1, content := b.text("h1"), b.text(".content"); !strings.HasPrefix(content, h1) && h1 != payloads[1] {
			t.Errorf("detail shows h1 %q, content %q", h1, content)
		}
		noMarkup("conversation")
		b.do(chromedp.Navigate(s.url + "/#/"))
		b.waitFor("the list", `document.querySelector('#conversations[aria-busy="false"]')`, 5*time.Second)
	}
	time.Sleep(300 * time.Millisecond) // give any injected handler its chance
	// (openTab's cleanup fails the test on any dialog or script error.)
}

// Posting with the keyboard alone: Tab from field to field, arrow keys in
// the priority list, Enter on Post.
func TestKeyboardOnly(t *testing.T) {
	b := openTab(t)
	s := startRecall(t)
	b.signIn(s)
	b.do(chromedp.Evaluate[chromedp.Void](`document.activeElement?.blur(); document.body.focus()`))
	active := func() string {
		return js[string](b, `document.activeElement?.id || document.activeElement?.textContent || ""`)
	}
	tabTo := func(id string) {
		t.Helper()
		for range 12 {
			if active() == id {
				return
			}
			b.do(chromedp.KeyEvent(kb("Tab")))
		}
		t.Fatalf("Tab never reached #%s (at %q)", id, active())
	}
	tabTo("f-title")
	b.do(chromedp.KeyEvent("Keyboard sync"))
	b.do(chromedp.KeyEvent(kb("Tab")))
	if active() != "f-content" {
		t.Fatalf("after the title, focus is on %q", active())
	}
	b.do(chromedp.KeyEvent("Carol will book the room. We agreed on the agenda."))
	tabTo("f-priority")
	b.do(chromedp.KeyEvent("h")) // a select's type-ahead: default → high
	if got := js[string](b, `document.getElementById("f-priority").value`); got != "high" {
		t.Errorf("priority after typing h: %q", got)
	}
	tabTo("Post")
	b.do(chromedp.KeyEvent("\r"))
	b.waitFor("the post", `document.querySelector(".conversation .badge-done")`, 15*time.Second)
	all := s.all()
	if len(all) != 1 || all[0].Title != "Keyboard sync" || all[0].Priority != "high" || !strings.HasPrefix(all[0].Content, "Carol will") {
		t.Fatalf("conversations: %+v", all)
	}
	// Open it by keyboard, and reprocess by keyboard.
	tabTo("Keyboard sync")
	b.do(chromedp.KeyEvent("\r"))
	b.waitFor("the conversation", `document.querySelector('.detail[aria-busy="false"] #reprocess')`, 5*time.Second)
	if js[string](b, `document.activeElement.tagName`) != "H1" {
		t.Errorf("focus after opening: %s", active())
	}
	tabTo("reprocess")
	b.do(chromedp.KeyEvent("\r"))
	for deadline := time.Now().Add(5 * time.Second); len(s.proxy.seen(`/reprocess$`)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("Enter on Reprocess sent nothing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.waitFor("the rerun done", `document.querySelector(".detail .badge-done") && document.querySelector("#h-summary")`, 15*time.Second)
	if n := len(s.proxy.seen(`/reprocess$`)); n != 1 {
		t.Errorf("%d reprocess calls", n)
	}
	if active() != "reprocess" {
		t.Errorf("focus moved off Reprocess to %q while the run arrived", active())
	}
	if !strings.Contains(js[string](b, `getComputedStyle(document.activeElement).outlineStyle`), "solid") {
		t.Errorf("the focused element shows no focus ring")
	}
}

// kb names a key for chromedp.KeyEvent.
func kb(name string) string {
	switch name {
	case "Tab":
		return "\t"
	case "Escape":
		return "\x1b"
	}
	return name
}

// A double click, and a retry after the answer was lost, each create
// exactly one conversation: every submission carries one Idempotency-Key.
func TestSubmitOnce(t *testing.T) {
	b := openTab(t)
	s := startRecall(t)
	b.signIn(s)
	b.do(
		chromedp.SendKeys(chromedp.ID("f-title"), "Double"),
		chromedp.SendKeys(chromedp.ID("f-content"), "Clicked twice in a hurry."),
		chromedp.DoubleClick(chromedp.CSS(".post-form button[type=submit]")),
	)
	b.waitFor("the post", `document.querySelector(".conversation")`, 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if n := len(s.all()); n != 1 {
		t.Fatalf("a double click made %d conversations", n)
	}
	// Two submissions in the same instant (no time for the button to be
	// disabled in between) still create one.
	b.do(
		chromedp.SendKeys(chromedp.ID("f-title"), "Twice"),
		chromedp.SendKeys(chromedp.ID("f-content"), "Submitted twice at once."),
		chromedp.Evaluate[chromedp.Void](`(() => { const f = document.querySelector(".post-form"); f.requestSubmit(); f.requestSubmit(); })()`),
	)
	b.waitFor("the post", `document.querySelectorAll(".conversation").length === 2`, 10*time.Second)
	time.Sleep(500 * time.Millisecond)
	if n := len(s.all()); n != 2 {
		t.Fatalf("two instant submissions made %d conversations in all, want 2", n)
	}

	// The server creates it but the answer is lost: the page says so, and
	// pressing Post again sends the same key, which the server replays.
	s.proxy.dropNext(2, func(r *http.Request) bool { return r.Method == "POST" && r.URL.Path == "/api/conversations" })
	b.do(
		chromedp.SendKeys(chromedp.ID("f-title"), "Lost answer"),
		chromedp.SendKeys(chromedp.ID("f-content"), "The network failed after the server saved this."),
	)
	b.submit()
	b.waitFor("the network error", `!document.querySelector(".post-form p[role=alert]").hidden`, 10*time.Second)
	if got := b.text(".post-form p[role=alert]"); !strings.Contains(got, "not be posted twice") {
		t.Errorf("network error message: %q", got)
	}
	if n := len(s.all()); n != 3 {
		t.Fatalf("after the lost answer the server has %d conversations, want 3", n)
	}
	lostKey := s.proxy.seen(`^POST /api/conversations$`)
	lostAt := len(lostKey)
	b.submit()
	b.waitFor("the retry's answer", `document.querySelectorAll(".conversation").length === 3`, 10*time.Second)
	posts := s.proxy.seen(`^POST /api/conversations$`)
	last, lost := posts[len(posts)-1], lostKey[lostAt-1]
	if last.reqHdr.Get("Idempotency-Key") == "" || last.reqHdr.Get("Idempotency-Key") != lost.reqHdr.Get("Idempotency-Key") || last.respHdr.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry key %q, lost key %q, replayed %q", last.reqHdr.Get("Idempotency-Key"), lost.reqHdr.Get("Idempotency-Key"), last.respHdr.Get("Idempotent-Replayed"))
	}
	if n := len(s.all()); n != 3 {
		t.Fatalf("after the retry the server has %d conversations, want 3", n)
	}
	// Distinct submissions had distinct keys.
	keys := map[string]bool{}
	for _, p := range posts {
		keys[p.reqHdr.Get("Idempotency-Key")] = true
	}
	if len(keys) != 3 {
		t.Errorf("%d distinct keys over %d posts, want 3", len(keys), len(posts))
	}
}
