package fulltext_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/fulltext"
	"recall/internal/recall"
	"recall/internal/recall/searchtest"
)

// open opens a fresh index in a temporary directory, closed at cleanup.
func open(t testing.TB) *fulltext.Index {
	t.Helper()
	x, err := fulltext.Open(filepath.Join(t.TempDir(), "search.bleve"), fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	return x
}

func TestIndex(t *testing.T) {
	searchtest.Exercise(t, func(t *testing.T) recall.Index { return open(t) })
}

// Relevance floors, set from the first honest run on the evaluation set
// and kept a little below it so noise in the set does not flap the test.
const (
	minMRR10   = 0.85
	minRecall5 = 0.85
)

func TestRelevance(t *testing.T) {
	m := searchtest.Evaluate(t, open(t))
	m.Log(t, "fulltext")
	if m.MRR10 < minMRR10 {
		t.Errorf("MRR@10 %.3f is below the floor %.2f", m.MRR10, minMRR10)
	}
	if m.Recall5 < minRecall5 {
		t.Errorf("recall@5 %.3f is below the floor %.2f", m.Recall5, minRecall5)
	}
}

// A summary or action item that repeats a sentence of the content is one
// passage, not three.
func TestHighlightsDoNotRepeat(t *testing.T) {
	t.Parallel()
	x := open(t)
	sentence := "We will migrate the push service before the launch."
	c := &recall.Conversation{ID: recall.NewID(time.Now()), Owner: "alice", Title: "Launch", Content: sentence + " Then lunch.",
		Summary: sentence, ActionItems: []string{sentence}, UpdatedAt: time.Now()}
	if err := x.Index(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	page, err := x.Search(t.Context(), "alice", recall.SearchQuery{Text: "migrating", Limit: 10})
	if err != nil || len(page.Hits) != 1 {
		t.Fatalf("search: %+v %v", page, err)
	}
	if hl := page.Hits[0].Highlights; len(hl) != 1 || !strings.Contains(hl[0], "<mark>migrate</mark>") {
		t.Fatalf("highlights %q, want the one passage once", hl)
	}
}

// Concurrent Index calls are written in shared batches, and each returns
// only once its own conversation is searchable.
func TestConcurrentIndexIsSearchableOnReturn(t *testing.T) {
	t.Parallel()
	x := open(t)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			word := fmt.Sprintf("zq%dword", i)
			c := &recall.Conversation{ID: recall.NewID(time.Now()), Owner: "alice", Content: "about " + word, UpdatedAt: time.Now()}
			if err := x.Index(t.Context(), c); err != nil {
				t.Error(err)
				return
			}
			page, err := x.Search(t.Context(), "alice", recall.SearchQuery{Text: word, Limit: 10})
			if err != nil || len(page.Hits) != 1 || page.Hits[0].ID != c.ID {
				t.Errorf("right after Index returned, %s finds %+v (%v)", word, page.Hits, err)
			}
		})
	}
	wg.Wait()
	if n, err := x.Count(); err != nil || n != 64 {
		t.Fatalf("count %d, %v", n, err)
	}
}

// Pages read across the two tiers hold each conversation once: the second
// tier leaves out every conversation of the first, also those an earlier
// page returned.
func TestPagesAcrossTiersDoNotRepeat(t *testing.T) {
	x := open(t)
	ctx := t.Context()
	at := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)
	texts := []string{"budget review", "budget review again", "the budget review", "budget only", "just the budget", "budget talk"}
	for i, text := range texts {
		c := &recall.Conversation{ID: fmt.Sprintf("c%d", i), Owner: "alice", Title: "Note", Content: text, CreatedAt: at, UpdatedAt: at}
		if err := x.Index(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	after := ""
	for page := 0; page < 5; page++ {
		res, err := x.Search(ctx, "alice", recall.SearchQuery{Text: "budget review", Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range res.Hits {
			if seen[h.ID] {
				t.Fatalf("page %d repeats %s", page, h.ID)
			}
			seen[h.ID] = true
		}
		if after = res.Next; after == "" {
			break
		}
	}
	if len(seen) != len(texts) {
		t.Fatalf("pages hold %d of %d conversations", len(seen), len(texts))
	}
}
