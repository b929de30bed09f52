package fulltext

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"recall/internal/recall"
)

// TestScoresDoNotDependOnSegments: a search's scores, and so its order and
// the offsets its cursors hold, are the same before and after the index's
// segments are merged. Bleve's own BM25 reads the average field length
// from the sum of every segment's distinct terms, which a merge changes:
// pages read across a background merge then repeated one hit and lost
// another.
func TestScoresDoNotDependOnSegments(t *testing.T) {
	x, err := Open(filepath.Join(t.TempDir(), "search.bleve"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	base := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)
	for i := range 9 {
		at := base.Add(time.Duration(i) * time.Second)
		c := &recall.Conversation{ID: fmt.Sprintf("c%d", i), Owner: "alice", Title: fmt.Sprintf("Budget %d", i),
			Content:   "Budget talk number " + strings.Repeat("budget ", i) + strings.Repeat(fmt.Sprintf("filler%d ", i), 3*i),
			CreatedAt: at, UpdatedAt: at}
		// One write at a time: each conversation in a segment of its own.
		if err := x.Index(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := x.Settle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ranked := func() []string {
		t.Helper()
		page, err := x.Search(ctx, "alice", recall.SearchQuery{Text: "budget", Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range page.Hits {
			out = append(out, fmt.Sprintf("%s=%.12f", h.ID, h.Score))
		}
		return out
	}
	before := ranked()
	// Wait for the persister to write the memory segments out, then merge
	// what it wrote.
	for deadline := time.Now().Add(10 * time.Second); x.memorySegments() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the memory segments were never persisted")
		}
	}
	if err := x.compact(ctx); err != nil {
		t.Fatal(err)
	}
	after := ranked()
	if strings.Join(before, " ") != strings.Join(after, " ") {
		t.Fatalf("scores changed when segments merged:\nbefore %v\nafter  %v", before, after)
	}
	if len(before) != 9 {
		t.Fatalf("found %d of 9", len(before))
	}
}

// memorySegments is how many segments the index holds in memory, not yet
// written to files by the persister.
func (x *Index) memorySegments() int {
	stats, _ := x.idx.StatsMap()["index"].(map[string]any)
	n, _ := stats["num_root_memorysegments"].(uint64)
	return int(n)
}
