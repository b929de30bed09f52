package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"recall/internal/backends"
	"recall/internal/boltstore"
	"recall/internal/config"
	"recall/internal/embedded"
)

const reindexUsage = `
Usage: recall reindex [--data ./.recall] [--progress auto]

Rebuilds the embedded search index (DATA_DIR/search.bleve) from every
conversation in the store, with a progress bar on a terminal (plain lines
every few seconds otherwise; --progress bar, plain or none to choose).
The new index is built beside the old one and swapped in when complete,
so an interrupted rebuild leaves the old index as it was.

recall serve catches the index up with the store by itself at start (after
a crash, say); reindex is for an index that is damaged, or that recall
doctor reports behind. Stop recall serve first: one process at a time can
open the store and the index. On DynamoDB there is no embedded index to
rebuild.`

func cmdReindex(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reindex", reindexUsage, stderr)
	data := fs.String("data", "", "data directory (default $RECALL_DATA_DIR or ./.recall)")
	prog := fs.String("progress", progressAuto, "progress display: auto, bar, plain or none")
	if err := parse(fs, args); err != nil {
		return err
	}
	mode, err := progressMode(*prog, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "recall reindex: %v\n", err)
		return errUsage
	}
	cfg, err := localConfig(*data)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b, err := openForIndex(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	p := startProgress(stderr, mode, "reindex", 0, nil)
	start := time.Now()
	n, err := b.Reindex(ctx, func(n int) { p.Set(int64(n)) })
	p.Finish()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stdout, "interrupted; the old index is unchanged")
			return exitCode(130)
		}
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "reindexed %d conversations in %s (%.0f/s)\n", n, took.Round(time.Millisecond), float64(n)/max(took.Seconds(), 1e-9))
	return nil
}

// openForIndex opens the embedded store and its index without catching
// up: reindex rebuilds it anyway, and doctor wants to see how far behind
// it is.
func openForIndex(ctx context.Context, cfg config.Config) (*backends.Set, error) {
	if cfg.Store.DynamoTable != "" {
		return nil, errors.New("DYNAMODB_TABLE is set: there is no embedded search index to work on (search on AWS is not served from the data directory)")
	}
	b, err := backends.OpenStore(ctx, cfg, discardLog, embedded.Openers())
	if errors.Is(err, boltstore.ErrInUse) {
		return nil, fmt.Errorf("%w: stop recall serve or point --data elsewhere", err)
	}
	if err != nil {
		return nil, err
	}
	if err := b.OpenIndex(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}
