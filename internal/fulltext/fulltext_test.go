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
