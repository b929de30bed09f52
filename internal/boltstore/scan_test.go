package boltstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"recall/internal/boltstore"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
	"recall/internal/testenv"
)

func TestScanner(t *testing.T) {
	recalltest.Scanner(t, func(t *testing.T) recall.Store {
		return open(t, filepath.Join(t.TempDir(), "recall.db"))
	})
}

// TestScanReadBudget fills more conversations than one page reads and
// filters them all out: pages come back empty with a cursor until the scan
// has read everything, rather than one page reading the whole file.
func TestScanReadBudget(t *testing.T) {
	testenv.SkipShort(t, "writes 6,000 conversations")
	s := open(t, filepath.Join(t.TempDir(), "recall.db"))
	ctx := t.Context()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 6000
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, _, err := s.Create(ctx, recalltest.NewConversation("alice", base.Add(time.Duration(i)*time.Millisecond)), nil)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	p, err := s.Scan(ctx, recall.ScanFilter{Status: recall.StatusFailed}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 0 || p.Next == "" {
		t.Fatalf("first page = %d items, next %q; want none and a cursor", len(p.Items), p.Next)
	}
	if got := recalltest.ScanAll(t, s, recall.ScanFilter{}, "", 1000); len(got) != n {
		t.Fatalf("a full scan returned %d of %d", len(got), n)
	}
}

func TestProbe(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "recall.db"))
	ctx := t.Context()
	for range 3 {
		if err := s.Probe(ctx); err != nil {
			t.Fatalf("Probe: %v", err)
		}
	}
	// The probe leaves nothing a scan or a listing would see.
	if got := recalltest.ScanAll(t, s, recall.ScanFilter{}, "", 10); len(got) != 0 {
		t.Fatalf("after probes a scan finds %d conversations", len(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Probe(ctx); err == nil {
		t.Fatal("Probe on a closed store succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	s2 := open(t, filepath.Join(t.TempDir(), "other.db"))
	if err := s2.Probe(cancelled); err == nil {
		t.Fatal("Probe with a cancelled context succeeded")
	}
}

var _ interface {
	Probe(context.Context) error
} = (*boltstore.Store)(nil)
