// Package embedded holds the backends Recall keeps in a data directory on
// one machine, the default installation that needs nothing else running:
// the store (package boltstore, bbolt) in StoreFile and its search index
// (package fulltext, bleve) in IndexDir beside it. The recall command and
// tests pass Openers to backends.Open and backends.OpenStore.
//
// No Lambda function imports this package, so none links bbolt or bleve
// (a test in internal/deploy keeps it so): a function's disk is its own
// and lost with it, so on AWS conversations live in DynamoDB, and a
// function configured without DYNAMODB_TABLE refuses to start.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"recall/internal/backends"
	"recall/internal/boltstore"
	"recall/internal/fulltext"
	"recall/internal/recall"
)

// The data directory's layout.
const (
	// StoreFile is the embedded store's database file.
	StoreFile = "recall.db"
	// IndexDir is the embedded search index's directory.
	IndexDir = "search.bleve"
)

// Openers returns what opens the embedded store and search index, for
// backends.Open and backends.OpenStore.
func Openers() backends.Embedded {
	return backends.Embedded{Store: openStore, Index: openIndex}
}

var (
	_ backends.EmbeddedStore = (*boltstore.Store)(nil)
	_ backends.EmbeddedIndex = index{}
)

// openStore opens the store in dir, creating the directory when missing.
// Another process holding it is an error wrapping boltstore.ErrInUse.
func openStore(dir string) (backends.EmbeddedStore, error) {
	if dir == "" {
		return nil, errors.New("embedded: no data directory: set RECALL_DATA_DIR")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded: create data dir %s: %w", dir, err)
	}
	st, err := boltstore.Open(filepath.Join(dir, StoreFile), boltstore.Options{})
	if err != nil {
		return nil, err // not a nil *Store in a non-nil interface
	}
	return st, nil
}

// openIndex opens the index in dir over st, which it reads to catch up,
// rebuild and count what it is behind.
func openIndex(dir string, st recall.Store, log *slog.Logger) (backends.EmbeddedIndex, error) {
	src, ok := st.(fulltext.Source)
	if !ok {
		return nil, fmt.Errorf("embedded: the %T store cannot be scanned to fill the search index", st)
	}
	path := filepath.Join(dir, IndexDir)
	x, err := fulltext.Open(path, fulltext.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("embedded: open the search index %s: %w (another recall process may hold it: stop recall serve)", path, err)
	}
	return index{ftIndex: x, src: src}, nil
}

// ftIndex is fulltext.Index under a name of its own for index to embed:
// embedded as fulltext.Index the field would be called Index and hide the
// method Index that recall.Index needs.
type ftIndex = fulltext.Index

// index is the full-text index bound to the store it indexes. Everything
// fulltext.Index offers is promoted, Accept (which the Service prefers to
// Index) included; CatchUp, Behind and Rebuild read the bound store.
type index struct {
	*ftIndex
	src fulltext.Source
}

func (x index) CatchUp(ctx context.Context) (int, error) { return x.ftIndex.CatchUp(ctx, x.src) }

func (x index) Behind(ctx context.Context) (int, error) { return x.ftIndex.Behind(ctx, x.src) }

func (x index) Rebuild(ctx context.Context, progress func(n int)) (int, error) {
	return x.ftIndex.Rebuild(ctx, x.src, progress)
}
