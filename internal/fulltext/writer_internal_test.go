package fulltext

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"recall/internal/recall"
)

// failingIndex is a bleve index whose batches fail while fail is set: a
// disk that refuses writes.
type failingIndex struct {
	inner
	fail atomic.Bool
}

// inner names the embedded index, whose method Index clashes with a field name.
type inner = bleve.Index

func (f *failingIndex) Batch(b *bleve.Batch) error {
	if f.fail.Load() {
		return errors.New("disk refuses the write")
	}
	return f.inner.Batch(b)
}

// TestFailedBatchIsRetriedAndNotClaimed: while the index cannot be
// written, accepted conversations are neither dropped nor claimed by the
// watermark (in memory or stored), so a crash then leaves them to
// CatchUp; once writes work again the writer retries them by itself and
// they are found.
func TestFailedBatchIsRetriedAndNotClaimed(t *testing.T) {
	x, err := Open(filepath.Join(t.TempDir(), "search.bleve"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx := context.Background()
	base := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)
	conv := func(i int) *recall.Conversation {
		at := base.Add(time.Duration(i) * time.Second)
		return &recall.Conversation{ID: fmt.Sprintf("c%03d", i), Owner: "alice", Title: "t",
			Content: fmt.Sprintf("marker%d", i), CreatedAt: at, UpdatedAt: at}
	}
	if err := x.Index(ctx, conv(0)); err != nil {
		t.Fatal(err)
	}
	before := x.Watermark()

	f := &failingIndex{inner: x.idx}
	f.fail.Store(true)
	x.mu.Lock()
	x.idx = f
	x.mu.Unlock()
	for i := 1; i <= 20; i++ {
		if err := x.Accept(ctx, conv(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Index(ctx, conv(21)); err == nil {
		t.Fatal("Index returned no error while the index cannot be written")
	}
	if err := x.Ping(ctx); recall.ErrorCode(err) != recall.EUNAVAILABLE {
		t.Errorf("Ping while writes fail: %v, want unavailable", err)
	}
	if got := x.Watermark(); got != before {
		t.Fatalf("watermark moved to %+v over unwritten conversations (was %+v)", got, before)
	}
	raw, err := f.GetInternal(keyWatermark)
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := decodeWatermark(raw); stored != before {
		t.Fatalf("stored watermark %+v claims unwritten conversations (was %+v)", stored, before)
	}

	f.fail.Store(false)
	deadline := time.Now().Add(20 * time.Second)
	for i := 1; i <= 21; i++ {
		for {
			page, err := x.Search(ctx, "alice", recall.SearchQuery{Text: fmt.Sprintf("marker%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Hits) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("marker%d never written after writes recovered: dropped", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := x.Watermark(); got.ID != "c021" {
		t.Errorf("watermark after the retry %+v, want c021", got)
	}
	if err := x.Ping(ctx); err != nil {
		t.Errorf("Ping after recovery: %v", err)
	}
}
