package embedded_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"recall/internal/boltstore"
	"recall/internal/embedded"
	"recall/internal/recall"
)

// TestOpeners opens the store and the index in a new data directory and
// checks what the rest of the house relies on: the layout, one process at
// a time, the store bound into the index (a conversation stored but never
// indexed is what CatchUp finds), and Accept, which the Service prefers
// to Index, still offered through the wrapper that binds the store.
func TestOpeners(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	o := embedded.Openers()
	st, err := o.Store(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x, err := o.Index(dir, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for _, name := range []string{embedded.StoreFile, embedded.IndexDir} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("the data directory lacks %s: %v", name, err)
		}
	}
	if _, err := o.Store(dir); !errors.Is(err, boltstore.ErrInUse) {
		t.Errorf("a second Store on the same directory: %v; want boltstore.ErrInUse", err)
	}
	if _, ok := x.(interface {
		Accept(context.Context, *recall.Conversation) error
	}); !ok {
		t.Errorf("the index (%T) does not offer Accept", x)
	}

	now := time.Now().UTC()
	c := &recall.Conversation{ID: recall.NewID(now), Owner: "alice", Title: "okapi", Content: "notes about the okapi",
		Status: recall.StatusPending, Run: 1, CreatedAt: now, UpdatedAt: now, Priority: recall.PriorityDefault}
	if _, _, err := st.Create(t.Context(), c, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := x.Behind(t.Context()); err != nil || n != 1 {
		t.Fatalf("Behind = %d, %v; want the one conversation the index has not seen", n, err)
	}
	if n, err := x.CatchUp(t.Context()); err != nil || n != 1 {
		t.Fatalf("CatchUp = %d, %v; want 1", n, err)
	}
	page, err := x.Search(t.Context(), "alice", recall.SearchQuery{Text: "okapi", Limit: 10})
	if err != nil || len(page.Hits) != 1 {
		t.Fatalf("search after catching up: %+v, %v", page, err)
	}
	if n, err := x.Rebuild(t.Context(), nil); err != nil || n != 1 {
		t.Fatalf("Rebuild = %d, %v; want 1", n, err)
	}
}

// TestNoDataDirectory: in a Lambda function's configuration the data
// directory is empty; a test that gives such a function the embedded
// store must name one rather than write to the working directory.
func TestNoDataDirectory(t *testing.T) {
	t.Parallel()
	if _, err := embedded.Openers().Store(""); err == nil || !strings.Contains(err.Error(), "RECALL_DATA_DIR") {
		t.Errorf("Store(\"\"): %v; want an error naming RECALL_DATA_DIR", err)
	}
}
