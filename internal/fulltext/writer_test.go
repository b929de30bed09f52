package fulltext_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"recall/internal/fulltext"
	"recall/internal/recall"
)

// TestSearchSeesWhatWasAccepted is read-your-writes from the searcher's
// side: a conversation handed to Accept (what a create does before its
// 201) is found by the search sent right after, every time, with many
// accepting and searching at once. Without Search's wait for the queue
// most of these searches run before the batch is written.
func TestSearchSeesWhatWasAccepted(t *testing.T) {
	x := open(t)
	const workers, each = 8, 40
	base := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	cs := numbered("alice", workers*each, base)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * each; i < (w+1)*each; i++ {
				if err := x.Accept(ctx, cs[i]); err != nil {
					errs <- err
					return
				}
				page, err := x.Search(ctx, "alice", recall.SearchQuery{Text: fmt.Sprintf("marker%d", i)})
				if err != nil {
					errs <- err
					return
				}
				if len(page.Hits) != 1 || page.Hits[0].ID != cs[i].ID {
					errs <- fmt.Errorf("marker%d: accepted but not found by the next search (%d hits)", i, len(page.Hits))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 5 {
		t.Errorf("… %d failures in all", n)
	}
}

// TestCloseWritesTheQueue: what was accepted and not yet written when
// Close is called is in the index when it is opened again, with no
// CatchUp.
func TestCloseWritesTheQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "search.bleve")
	x, err := fulltext.Open(path, fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := numbered("alice", 500, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC))
	for _, c := range cs {
		if err := x.Accept(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := x.Accept(context.Background(), cs[0]); recall.ErrorCode(err) != recall.EUNAVAILABLE {
		t.Errorf("Accept after Close: %v, want unavailable", err)
	}
	x, err = fulltext.Open(path, fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, missing := findable(t, x, cs); len(missing) > 0 {
		t.Fatalf("%d of %d accepted conversations lost by Close", len(missing), len(cs))
	}
	if got := x.Watermark(); got.ID != cs[len(cs)-1].ID {
		t.Errorf("watermark %+v, want the last accepted", got)
	}
}

// TestDeleteIsOrderedAfterAccept: a delete right after an accept (a
// create deleted at once) is not undone by the queued write.
func TestDeleteIsOrderedAfterAccept(t *testing.T) {
	x := open(t)
	ctx := context.Background()
	cs := numbered("alice", 200, time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC))
	for _, c := range cs {
		if err := x.Accept(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := x.Delete(ctx, c.Owner, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	if found, _ := findable(t, x, cs); len(found) > 0 {
		t.Fatalf("%d deleted conversations came back from the queue", len(found))
	}
}
