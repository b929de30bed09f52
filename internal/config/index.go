package config

import (
	"context"
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
// with the Backends. It does not catch up with the store; Open does. The
// DynamoDB store has no index here yet: the AWS search (package hybrid)
// plugs in as b.Index the same way.
func (b *Backends) OpenIndex(context.Context) error {
	if b.Config.Store.DynamoTable != "" || b.Index != nil {
		return nil
	}
	path := filepath.Join(b.Config.Store.DataDir, SearchIndexDir)
	x, err := fulltext.Open(path, fulltext.Options{Logger: b.Log})
	if err != nil {
		return fmt.Errorf("config: open the search index %s: %w (another recall process may hold it: stop recall serve)", path, err)
	}
	b.closers = append(b.closers, x.Close)
	b.Fulltext, b.Index = x, x
	return nil
}

// catchUp brings the embedded index up to date with the store before
// anything is served: after a crash or an outage it indexes whatever
// changed after the index's watermark, and a new index (a first start, or
// a schema change) is filled from the whole store.
func (b *Backends) catchUp(ctx context.Context) error {
	src, ok := b.Store.(fulltext.Source)
	if b.Fulltext == nil || !ok {
		return nil
	}
	start := time.Now()
	n, err := b.Fulltext.CatchUp(ctx, src)
	if err != nil {
		return fmt.Errorf("config: bring the search index up to date: %w (recall reindex rebuilds it)", err)
	}
	if n > 0 {
		b.Log.InfoContext(ctx, "search index caught up", "indexed", n, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}
