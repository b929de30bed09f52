package searchtest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"recall/internal/recall"
)

// Conv builds a conversation of owner for the suites: done, with the given
// title and content, and an ID that sorts by creation.
func Conv(owner, title, content string) *recall.Conversation {
	now := time.Now().UTC()
	return &recall.Conversation{
		ID: recall.NewID(now), Owner: owner, Title: title, Content: content,
		PostType: "meeting", Priority: recall.PriorityDefault, Status: recall.StatusPending,
		Run: 1, CreatedAt: now, UpdatedAt: now,
	}
}

// Exercise runs the behaviour every recall.Index must have, one subtest
// per promise. newIndex returns a fresh, empty index for each subtest (and
// arranges its cleanup).
func Exercise(t *testing.T, newIndex func(t *testing.T) recall.Index) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, idx recall.Index)
	}{
		{"FindsTitleAndContentAtOnce", findsAtOnce},
		{"SearchesAnalysis", searchesAnalysis},
		{"OwnersApart", ownersApart},
		{"Delete", deleteForgets},
		{"IndexReplaces", indexReplaces},
		{"CaseAndInflections", caseAndInflections},
		{"Phrase", phrase},
		{"Prefix", prefix},
		{"Exclusion", exclusion},
		{"AllWordsFirst", allWordsFirst},
		{"Paging", paging},
		{"HighlightsEscaped", highlightsEscaped},
		{"RefusesBadInput", refusesBadInput},
		{"Ping", ping},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newIndex(t))
		})
	}
}

// index indexes every conversation in cs, failing the test on an error.
func index(t *testing.T, idx recall.Index, cs ...*recall.Conversation) {
	t.Helper()
	for _, c := range cs {
		if err := idx.Index(context.Background(), c); err != nil {
			t.Fatalf("Index(%s): %v", c.ID, err)
		}
	}
}

// search returns the first page of owner's hits for q, as large as a page
// may be, failing the test on an error.
func search(t *testing.T, idx recall.Index, owner, q string) []recall.SearchHit {
	t.Helper()
	page, err := idx.Search(context.Background(), owner, recall.SearchQuery{Text: q, Limit: recall.MaxSearchLimit})
	if err != nil {
		t.Fatalf("Search(%s, %q): %v", owner, q, err)
	}
	return page.Hits
}

func hitIDs(hits []recall.SearchHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

// expect fails the test unless hits, the result of query q, are exactly
// want, in any order: the suite pins down what is found, and ranking only
// where it says so.
func expect(t *testing.T, hits []recall.SearchHit, q string, want ...*recall.Conversation) {
	t.Helper()
	got := hitIDs(hits)
	if len(got) != len(want) {
		t.Fatalf("%q found %v, want exactly %v", q, got, convIDs(want))
	}
	for _, w := range want {
		if !contains(got, w.ID) {
			t.Fatalf("%q found %v, want exactly %v", q, got, convIDs(want))
		}
	}
}

// findsAtOnce checks that a conversation is found by its title and its
// content as soon as it is indexed, before any analysis: people search for
// what they just posted.
func findsAtOnce(t *testing.T, idx recall.Index) {
	c := Conv("alice", "Kubernetes upgrade", "We will move the ingress controller next week.")
	index(t, idx, c)
	expect(t, search(t, idx, "alice", "kubernetes"), "kubernetes", c)
	expect(t, search(t, idx, "alice", "ingress"), "ingress", c)
}

// searchesAnalysis checks that once analysed, a conversation is also found
// by its summary, action items and keywords, words its transcript may never
// use.
func searchesAnalysis(t *testing.T, idx recall.Index) {
	c := Conv("alice", "Weekly sync", "We talked about the usual things.")
	index(t, idx, c)
	expect(t, search(t, idx, "alice", "quarterly"), "quarterly")
	c.Status, c.Summary = recall.StatusDone, "The quarterly budget was approved."
	c.ActionItems = []string{"Zanele to book the venue"}
	c.Keywords = []string{"offsite"}
	c.UpdatedAt = c.UpdatedAt.Add(time.Second)
	index(t, idx, c)
	for _, q := range []string{"quarterly budget", "zanele venue", "offsite"} {
		expect(t, search(t, idx, "alice", q), q, c)
	}
}

// ownersApart checks that one owner never finds, nor deletes from the index,
// another owner's conversation, even one with the same words.
func ownersApart(t *testing.T, idx recall.Index) {
	ctx := context.Background()
	a := Conv("alice", "Merger talks", "Confidential: the merger with Initech closes in May.")
	b := Conv("bob", "Merger talks", "Confidential: the merger with Initech closes in May.")
	index(t, idx, a, b)
	expect(t, search(t, idx, "alice", "merger initech"), "merger initech", a)
	expect(t, search(t, idx, "bob", "merger initech"), "merger initech", b)
	expect(t, search(t, idx, "carol", "merger"), "merger")
	// Another owner's delete changes nothing.
	if err := idx.Delete(ctx, "bob", a.ID); err != nil {
		t.Fatal(err)
	}
	expect(t, search(t, idx, "alice", "merger"), "merger", a)
}

// deleteForgets checks that a deleted conversation is no longer found, and
// that deleting twice, or deleting what was never indexed, succeeds, so a
// retried delete is not an error.
func deleteForgets(t *testing.T, idx recall.Index) {
	ctx := context.Background()
	a := Conv("alice", "Retention policy", "Logs are kept for thirty days.")
	b := Conv("alice", "Retention review", "We may keep logs longer.")
	index(t, idx, a, b)
	for range 2 { // a second delete is not an error
		if err := idx.Delete(ctx, "alice", a.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	expect(t, search(t, idx, "alice", "retention"), "retention", b)
	if err := idx.Delete(ctx, "alice", recall.NewID(time.Now())); err != nil {
		t.Fatalf("Delete of a conversation never indexed: %v", err)
	}
}

// indexReplaces checks that indexing a conversation again replaces what was
// indexed for it, so an edit or a new analysis leaves no stale words behind.
func indexReplaces(t *testing.T, idx recall.Index) {
	c := Conv("alice", "Draft", "The vendor is Umbrella.")
	index(t, idx, c)
	c.Content = "The vendor is Soylent."
	c.UpdatedAt = c.UpdatedAt.Add(time.Second)
	index(t, idx, c)
	expect(t, search(t, idx, "alice", "umbrella"), "umbrella")
	expect(t, search(t, idx, "alice", "soylent"), "soylent", c)
}

// caseAndInflections checks that a word matches whatever its case and
// inflection ("PLANS" finds "planned"), as people type queries loosely.
func caseAndInflections(t *testing.T, idx recall.Index) {
	c := Conv("alice", "Planning", "The team planned the migrations and is planning more.")
	other := Conv("alice", "Unrelated", "Coffee machine is broken again.")
	index(t, idx, c, other)
	for _, q := range []string{"plan", "PLANS", "Planned", "migration", "MIGRATING"} {
		expect(t, search(t, idx, "alice", q), q, c)
	}
}

// phrase checks that "a quoted phrase" matches only those words in that
// order, while the same words unquoted match wherever they stand.
func phrase(t *testing.T, idx recall.Index) {
	a := Conv("alice", "Push", "We need to migrate the push service before the 14th.")
	b := Conv("alice", "Other", "The service will push us to migrate later.")
	index(t, idx, a, b)
	expect(t, search(t, idx, "alice", `"migrate the push service"`), "phrase", a)
	expect(t, search(t, idx, "alice", "migrate push service"), "words", a, b)
}

// prefix checks that prefix* matches every word starting with it, and a
// longer prefix narrows the match.
func prefix(t *testing.T, idx recall.Index) {
	a := Conv("alice", "Release", "The deployment failed twice.")
	b := Conv("alice", "Ops", "Who is deploying on Friday?")
	c := Conv("alice", "Misc", "Nothing about releases here.")
	index(t, idx, a, b, c)
	expect(t, search(t, idx, "alice", "deploy*"), "deploy*", a, b)
	expect(t, search(t, idx, "alice", "Deploym*"), "Deploym*", a)
}

// exclusion checks that -word and -"a phrase" drop the conversations holding
// them.
func exclusion(t *testing.T, idx recall.Index) {
	a := Conv("alice", "Cutover", "Postgres cutover went fine.")
	b := Conv("alice", "Cutover review", "Postgres cutover needed a rollback.")
	index(t, idx, a, b)
	expect(t, search(t, idx, "alice", "postgres -rollback"), "postgres -rollback", a)
	expect(t, search(t, idx, "alice", `postgres -"went fine"`), "postgres -phrase", b)
}

// allWordsFirst checks that a conversation holding every word of the query
// ranks above those repeating one of them many times.
func allWordsFirst(t *testing.T, idx recall.Index) {
	both := Conv("alice", "Notes", "The invoice export is broken for large customers and we discussed it at length with the whole team today.")
	one := Conv("alice", "Invoice invoice", "Invoice invoice invoice invoice.")
	two := Conv("alice", "Export export", "Export export export export.")
	index(t, idx, one, two, both)
	hits := search(t, idx, "alice", "invoice export")
	if len(hits) == 0 || hits[0].ID != both.ID {
		t.Fatalf("invoice export ranked %v; the conversation with both words (%s) must come first", hitIDs(hits), both.ID)
	}
}

// paging checks that paging through many results returns each once, best
// first, with scores in [0, 1], no page over its limit, and an end.
func paging(t *testing.T, idx recall.Index) {
	ctx := context.Background()
	const n = 23
	for i := range n {
		index(t, idx, Conv("alice", fmt.Sprintf("Standup %d", i), strings.Repeat("standup notes ", i+1)+"blockers none."))
	}
	index(t, idx, Conv("bob", "Standup", "standup for bob"))
	seen := map[string]bool{}
	after := ""
	last := 2.0
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		page, err := idx.Search(ctx, "alice", recall.SearchQuery{Text: "standup", Limit: 10, After: after})
		if err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if len(page.Hits) > 10 {
			t.Fatalf("page of %d hits, limit 10", len(page.Hits))
		}
		for _, h := range page.Hits {
			if seen[h.ID] {
				t.Fatalf("%s on two pages", h.ID)
			}
			seen[h.ID] = true
			if h.Score < 0 || h.Score > 1 {
				t.Fatalf("score %v outside [0, 1]", h.Score)
			}
			if h.Score > last+1e-9 {
				t.Fatalf("score %v after %v: not best first", h.Score, last)
			}
			last = h.Score
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if len(seen) != n {
		t.Fatalf("pages held %d conversations, want %d", len(seen), n)
	}
}

// highlightsEscaped checks that highlights mark the matched word, stay about
// recall.HighlightSize long, at most recall.HighlightFragments of them, and
// carry no markup from the content but <mark>: clients may show them as
// HTML.
func highlightsEscaped(t *testing.T, idx recall.Index) {
	c := Conv("alice", "Review", `Dev said <script>alert("x")</script> & then: we need to migrate the push service. `+strings.Repeat("More words follow here. ", 30)+"Later we migrate again.")
	index(t, idx, c)
	hits := search(t, idx, "alice", "migrate")
	if len(hits) != 1 || len(hits[0].Highlights) == 0 {
		t.Fatalf("want one hit with highlights, got %+v", hits)
	}
	if len(hits[0].Highlights) > recall.HighlightFragments {
		t.Fatalf("%d highlights, at most %d", len(hits[0].Highlights), recall.HighlightFragments)
	}
	tag := regexp.MustCompile(`</?[a-zA-Z][^>]*>`)
	marked := 0
	for _, h := range hits[0].Highlights {
		for _, m := range tag.FindAllString(h, -1) {
			if m != "<mark>" && m != "</mark>" {
				t.Fatalf("highlight %q carries markup %q: only <mark> may be added", h, m)
			}
		}
		if strings.Contains(h, "<script") || strings.Contains(h, `"x"`) {
			t.Fatalf("highlight %q is not escaped", h)
		}
		marked += strings.Count(h, "<mark>migrate</mark>")
		if n := len([]rune(tag.ReplaceAllString(h, ""))); n > recall.HighlightSize+60 {
			t.Fatalf("highlight of %d characters, want about %d", n, recall.HighlightSize)
		}
	}
	if marked == 0 {
		t.Fatalf("no <mark>migrate</mark> in %q", hits[0].Highlights)
	}
}

// refusesBadInput checks that an empty query, one with only excluded words,
// one too long and a cursor that is not one are EINVALID, which the API
// turns into a 400.
func refusesBadInput(t *testing.T, idx recall.Index) {
	ctx := context.Background()
	index(t, idx, Conv("alice", "x", "some content"))
	for _, q := range []recall.SearchQuery{
		{Text: "  "},
		{Text: "-content"},
		{Text: strings.Repeat("a", recall.MaxQueryLen+1)},
		{Text: "content", After: "not-a-cursor"},
	} {
		if _, err := idx.Search(ctx, "alice", q); recall.ErrorCode(err) != recall.EINVALID {
			t.Errorf("Search(%+v) = %v, want %s", q, err, recall.EINVALID)
		}
	}
}

// ping checks that a fresh index answers Ping, the health check.
func ping(t *testing.T, idx recall.Index) {
	ctx := context.Background()
	if err := idx.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func convIDs(cs []*recall.Conversation) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
