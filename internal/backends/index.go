package backends

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"recall/internal/fulltext"
)

// SearchIndexDir is the embedded search index's directory in the data
// directory, beside the embedded store.
const SearchIndexDir = "search.bleve"

// OpenIndex opens the search index for b's store: on the embedded store,
// the full-text index in the data directory (b.Fulltext), which it closes
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
	path := filepath.Join(b.Config.Store.DataDir, SearchIndexDir)
	x, err := fulltext.Open(path, fulltext.Options{Logger: b.Log})
	if err != nil {
		return fmt.Errorf("backends: open the search index %s: %w (another recall process may hold it: stop recall serve)", path, err)
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
	src, ok := b.Store.(fulltext.Source)
	if b.Fulltext == nil || !ok {
		return nil
	}
	start := time.Now()
	n, err := b.Fulltext.CatchUp(ctx, src)
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

// indexSource is the store as the embedded index reads it.
func (b *Set) indexSource() (fulltext.Source, error) {
	if b.Fulltext == nil {
		return nil, errNoEmbeddedIndex
	}
	src, ok := b.Store.(fulltext.Source)
	if !ok {
		return nil, fmt.Errorf("backends: the %T store cannot be scanned to fill the search index", b.Store)
	}
	return src, nil
}

// Reindex rebuilds the embedded index from every conversation in the
// store (fulltext.Index.Rebuild), calling progress with the count so far.
// It needs the store and the index open (OpenStore, then OpenIndex).
func (b *Set) Reindex(ctx context.Context, progress func(n int)) (int, error) {
	src, err := b.indexSource()
	if err != nil {
		return 0, err
	}
	return b.Fulltext.Rebuild(ctx, src, progress)
}

// IndexBehind counts the conversations the store changed after the
// embedded index's watermark: what the index has certainly not seen (the
// next start catches up with them; recall reindex rebuilds everything).
func (b *Set) IndexBehind(ctx context.Context) (int, error) {
	src, err := b.indexSource()
	if err != nil {
		return 0, err
	}
	return b.Fulltext.Behind(ctx, src)
}
