package fulltext

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"recall/internal/recall"
)

// gcPercent reads the collector's target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// onePage is a Source of a few conversations in one scan page.
type onePage []*recall.Conversation

func (o onePage) Scan(context.Context, recall.ScanFilter, string, int) (recall.ScanPage, error) {
	return recall.ScanPage{Items: o}, nil
}

func (o onePage) Get(_ context.Context, owner, id string) (*recall.Conversation, error) {
	for _, c := range o {
		if c.Owner == owner && c.ID == id {
			return c, nil
		}
	}
	return nil, recall.Errorf(recall.ENOTFOUND, "no conversation %s", id)
}

// A rebuild runs with the collector's target raised to fillGOGC and puts
// back what it was; an operator's GOGC is left alone; overlapping fills
// restore it once, when the last ends.
func TestFillRaisesTheGCTargetWhileItRuns(t *testing.T) {
	t.Setenv("GOGC", "")
	before := gcPercent()
	x, err := Open(filepath.Join(t.TempDir(), "search.bleve"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	at := time.Date(2025, 8, 1, 0, 0, 0, 0, time.UTC)
	src := onePage{{ID: "c1", Owner: "alice", Title: "t", Content: "budget", CreatedAt: at, UpdatedAt: at}}
	during := 0
	if _, err := x.Rebuild(t.Context(), src, func(int) { during = gcPercent() }); err != nil {
		t.Fatal(err)
	}
	if during != fillGOGC || gcPercent() != before {
		t.Fatalf("GC target during the rebuild %d, after %d; want %d, then %d again", during, gcPercent(), fillGOGC, before)
	}

	first, second := roomierGC(), roomierGC()
	first()
	first() // a second call changes nothing
	if got := gcPercent(); got != fillGOGC {
		t.Fatalf("with one fill still running the target is %d, want %d", got, fillGOGC)
	}
	second()
	if got := gcPercent(); got != before {
		t.Fatalf("after both fills the target is %d, want %d", got, before)
	}

	t.Setenv("GOGC", fmt.Sprint(before))
	roomierGC()()
	restore := roomierGC()
	if got := gcPercent(); got != before {
		t.Fatalf("with GOGC set the target became %d, want it left at %d", got, before)
	}
	restore()
}
