package backends

import (
	"context"
	"errors"
	"log/slog"

	"recall/internal/recall"
)

// Embedded opens the backends kept in the data directory
// (RECALL_DATA_DIR): the embedded store and its search index, for what
// runs on one machine (the recall command, tests). The caller hands them
// in (package embedded holds them) rather than this package importing
// them, because a package's imports are linked whether or not they are
// called: a Lambda function passes the zero Embedded and so links neither
// the store's database nor the search library.
//
// The zero Embedded opens nothing: without DYNAMODB_TABLE, Open and
// OpenStore then refuse to start, saying to set it.
type Embedded struct {
	// Store opens the embedded store in data directory dir, creating
	// both when missing.
	Store func(dir string) (EmbeddedStore, error)
	// Index opens the embedded search index in dir over st, the store
	// Store opened there; log hears what the index does on its own.
	Index func(dir string, st recall.Store, log *slog.Logger) (EmbeddedIndex, error)
}

// EmbeddedStore is the embedded store, which this process holds until
// Close (one process at a time may).
type EmbeddedStore interface {
	recall.Store
	Close() error
}

// EmbeddedIndex is the embedded search index, bound to the store it was
// opened over: unlike search on AWS, which is written as conversations
// change and never read back from the store, it keeps a watermark of what
// it has seen and can be brought up to date with the store, or rebuilt
// from it.
type EmbeddedIndex interface {
	recall.Index
	// CatchUp indexes what the store changed after the index's
	// watermark (everything, for a new index) and returns how many.
	CatchUp(ctx context.Context) (int, error)
	// Behind counts the conversations the store changed after the
	// watermark: what the index has certainly not seen.
	Behind(ctx context.Context) (int, error)
	// Rebuild builds a new index from every conversation in the store
	// beside the old one and swaps it in when complete, calling progress
	// with the count so far.
	Rebuild(ctx context.Context, progress func(n int)) (int, error)
	// Count is how many conversations the index holds.
	Count() (uint64, error)
	Close() error
}

// errNoTable is why a process with no embedded store (a Lambda function)
// does not start without DYNAMODB_TABLE: it has nowhere else to keep
// conversations, and a store on a function's own disk would be lost with
// the execution environment and never seen by the other functions.
var errNoTable = errors.New("DYNAMODB_TABLE is not set: a Lambda function keeps conversations in DynamoDB and has no embedded store, so set DYNAMODB_TABLE to the table's name (template.yaml sets it from the stack's table; the embedded store is for recall serve and the other local commands)")
