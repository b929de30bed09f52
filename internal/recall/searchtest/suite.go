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

// Exercise runs the behaviour every recall.Index must have. newIndex returns
// a fresh, empty index for each subtest (and arranges its cleanup).
func Exercise(t *testing.T, newIndex func(t *testing.T) recall.Index) {
	ctx := context.Background()

	index := func(t *testing.T, idx recall.Index, cs ...*recall.Conversation) {
		t.Helper()
		for _, c := range cs {
			if err := idx.Index(ctx, c); err != nil {
				t.Fatalf("Index(%s): %v", c.ID, err)
			}
		}
	}
	search := func(t *testing.T, idx recall.Index, owner, q string) []recall.SearchHit {
		t.Helper()
		page, err := idx.Search(ctx, owner, recall.SearchQuery{Text: q, Limit: recall.MaxSearchLimit})
		if err != nil {
			t.Fatalf("Search(%s, %q): %v", owner, q, err)
		}
		return page.Hits
	}
	ids := func(hits []recall.SearchHit) []string {
		out := make([]string, len(hits))
		for i, h := range hits {
			out[i] = h.ID
		}
		return out
	}
	expect := func(t *testing.T, hits []recall.SearchHit, q string, want ...*recall.Conversation) {
		t.Helper()
		got := ids(hits)
		if len(got) != len(want) {
			t.Fatalf("%q found %v, want exactly %v", q, got, convIDs(want))
		}
		for _, w := range want {
			if !contains(got, w.ID) {
				t.Fatalf("%q found %v, want exactly %v", q, got, convIDs(want))
			}
		}
	}

	t.Run("FindsTitleAndContentAtOnce", func(t *testing.T) {
		idx := newIndex(t)
		c := Conv("alice", "Kubernetes upgrade", "We will move the ingress controller next week.")
		index(t, idx, c)
		expect(t, search(t, idx, "alice", "kubernetes"), "kubernetes", c)
		expect(t, search(t, idx, "alice", "ingress"), "ingress", c)
	})

	t.Run("SearchesAnalysis", func(t *testing.T) {
		idx := newIndex(t)
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
	})

	t.Run("OwnersApart", func(t *testing.T) {
		idx := newIndex(t)
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
	})

	t.Run("Delete", func(t *testing.T) {
		idx := newIndex(t)
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
	})

	t.Run("IndexReplaces", func(t *testing.T) {
		idx := newIndex(t)
		c := Conv("alice", "Draft", "The vendor is Umbrella.")
		index(t, idx, c)
		c.Content = "The vendor is Soylent."
		c.UpdatedAt = c.UpdatedAt.Add(time.Second)
		index(t, idx, c)
		expect(t, search(t, idx, "alice", "umbrella"), "umbrella")
		expect(t, search(t, idx, "alice", "soylent"), "soylent", c)
	})

	t.Run("CaseAndInflections", func(t *testing.T) {
		idx := newIndex(t)
		c := Conv("alice", "Planning", "The team planned the migrations and is planning more.")
		other := Conv("alice", "Unrelated", "Coffee machine is broken again.")
		index(t, idx, c, other)
		for _, q := range []string{"plan", "PLANS", "Planned", "migration", "MIGRATING"} {
			expect(t, search(t, idx, "alice", q), q, c)
		}
	})

	t.Run("Phrase", func(t *testing.T) {
		idx := newIndex(t)
		a := Conv("alice", "Push", "We need to migrate the push service before the 14th.")
		b := Conv("alice", "Other", "The service will push us to migrate later.")
		index(t, idx, a, b)
		expect(t, search(t, idx, "alice", `"migrate the push service"`), "phrase", a)
		expect(t, search(t, idx, "alice", "migrate push service"), "words", a, b)
	})

	t.Run("Prefix", func(t *testing.T) {
		idx := newIndex(t)
		a := Conv("alice", "Release", "The deployment failed twice.")
		b := Conv("alice", "Ops", "Who is deploying on Friday?")
		c := Conv("alice", "Misc", "Nothing about releases here.")
		index(t, idx, a, b, c)
		expect(t, search(t, idx, "alice", "deploy*"), "deploy*", a, b)
		expect(t, search(t, idx, "alice", "Deploym*"), "Deploym*", a)
	})

	t.Run("Exclusion", func(t *testing.T) {
		idx := newIndex(t)
		a := Conv("alice", "Cutover", "Postgres cutover went fine.")
		b := Conv("alice", "Cutover review", "Postgres cutover needed a rollback.")
		index(t, idx, a, b)
		expect(t, search(t, idx, "alice", "postgres -rollback"), "postgres -rollback", a)
		expect(t, search(t, idx, "alice", `postgres -"went fine"`), "postgres -phrase", b)
	})

	t.Run("AllWordsFirst", func(t *testing.T) {
		idx := newIndex(t)
		both := Conv("alice", "Notes", "The invoice export is broken for large customers and we discussed it at length with the whole team today.")
		one := Conv("alice", "Invoice invoice", "Invoice invoice invoice invoice.")
		two := Conv("alice", "Export export", "Export export export export.")
		index(t, idx, one, two, both)
		hits := search(t, idx, "alice", "invoice export")
		if len(hits) == 0 || hits[0].ID != both.ID {
			t.Fatalf("invoice export ranked %v; the conversation with both words (%s) must come first", ids(hits), both.ID)
		}
	})

	t.Run("Paging", func(t *testing.T) {
		idx := newIndex(t)
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
	})

	t.Run("HighlightsEscaped", func(t *testing.T) {
		idx := newIndex(t)
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
	})

	t.Run("RefusesBadInput", func(t *testing.T) {
		idx := newIndex(t)
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
	})

	t.Run("Ping", func(t *testing.T) {
		if err := newIndex(t).Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
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
