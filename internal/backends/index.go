package backends

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// OpenIndex opens the search index for b's store: on the embedded store,
// the embedded index in the data directory (b.Fulltext), which it closes
// with the Set; on DynamoDB, search on AWS (openHybrid) when
// RECALL_VECTOR_BUCKET configures it. It does not catch up with the store;
// Open does. A DynamoDB deployment without search on AWS has no index:
// GET /api/search answers 501 not_implemented, health shows "search":
// "not_configured", and creates and deletes skip indexing.
func (b *Set) OpenIndex(ctx context.Context) error {
	if b.Index != nil {
		return nil
	}
	if b.Config.Store.DynamoTable != "" {
		idx, err := b.openHybrid(ctx)
		if err != nil {
			return err
		}
		if idx != nil {
			b.Index = idx
		}
		return nil
	}
	if b.embedded.Index == nil {
		return errNoTable
	}
	x, err := b.embedded.Index(b.Config.Store.DataDir, b.Store, b.Log)
	if err != nil {
		return err
	}
	b.closers = append(b.closers, x.Close)
	b.Fulltext, b.Index = x, x
	return nil
}

// catchUp brings the embedded index up to date with the store before
// anything is served: after a crash or an outage it indexes whatever
// changed after the index's watermark, and a new index (a first start, or
// a schema change) is filled from the whole store.
func (b *Set) catchUp(ctx context.Context) error {
	if b.Fulltext == nil {
		return nil
	}
	start := time.Now()
	n, err := b.Fulltext.CatchUp(ctx)
	if err != nil {
		return fmt.Errorf("backends: bring the search index up to date: %w (recall reindex rebuilds it)", err)
	}
	if n > 0 {
		b.Log.InfoContext(ctx, "search index caught up", "indexed", n, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

// errNoEmbeddedIndex is what the index commands answer on a configuration
// without the embedded index.
var errNoEmbeddedIndex = errors.New("backends: this configuration has no embedded search index (it uses DynamoDB); recall reindex and the index check work on the embedded store")

// Reindex rebuilds the embedded index from every conversation in the
// store (EmbeddedIndex.Rebuild), calling progress with the count so far.
// It needs the store and the index open (OpenStore, then OpenIndex).
func (b *Set) Reindex(ctx context.Context, progress func(n int)) (int, error) {
	if b.Fulltext == nil {
		return 0, errNoEmbeddedIndex
	}
	return b.Fulltext.Rebuild(ctx, progress)
}

// IndexBehind counts the conversations the store changed after the
// embedded index's watermark: what the index has certainly not seen (the
// next start catches up with them; recall reindex rebuilds everything).
func (b *Set) IndexBehind(ctx context.Context) (int, error) {
	if b.Fulltext == nil {
		return 0, errNoEmbeddedIndex
	}
	return b.Fulltext.Behind(ctx)
}
