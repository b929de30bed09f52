package backends_test

import (
	"log/slog"
	"testing"

	"recall/internal/backends"
	"recall/internal/config"
	"recall/internal/embedded"
	"recall/internal/extract"
	"recall/internal/memq"
	"recall/internal/recall"
)

// A process that stored a conversation and died before indexing it (here:
// a process that opened the store alone, so nothing was indexed) leaves
// the index behind the store; the next Open catches up before serving.
func TestOpenCatchesUpWithTheStore(t *testing.T) {
	t.Parallel()
	cfg, err := config.FromLookup(config.Local, lookup(map[string]string{"RECALL_DATA_DIR": t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ai := extract.New(extract.Options{})
	create := func(b *backends.Set, title string) *recall.Conversation {
		t.Helper()
		sc := b.ServiceConfig(ai)
		if sc.Queue == nil { // OpenStore opens no queue
			sc.Queue = memq.New(memq.Options{})
		}
		c, _, err := recall.NewService(sc).Create(t.Context(), "alice", recall.CreateRequest{Title: title, Content: "notes about " + title}, "")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	found := func(b *backends.Set, q string) []string {
		t.Helper()
		res, err := recall.NewService(b.ServiceConfig(ai)).Search(t.Context(), "alice", q, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, it := range res.Items {
			ids = append(ids, it.Conversation.ID)
		}
		return ids
	}

	b, err := backends.Open(t.Context(), cfg, log, embedded.Openers())
	if err != nil {
		t.Fatal(err)
	}
	first := create(b, "aardvark")
	if got := found(b, "aardvark"); len(got) != 1 || got[0] != first.ID {
		t.Fatalf("indexed at create: %v", got)
	}
	b.Close()

	// The store gets the write; the index never hears of it.
	s, err := backends.OpenStore(t.Context(), cfg, log, embedded.Openers())
	if err != nil {
		t.Fatal(err)
	}
	if s.Index != nil {
		t.Fatal("OpenStore opened the index")
	}
	lost := create(s, "zebra")
	s.Close()

	b, err = backends.Open(t.Context(), cfg, log, embedded.Openers())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := found(b, "zebra"); len(got) != 1 || got[0] != lost.ID {
		t.Fatalf("after restart, search for the lost write finds %v, want [%s]", got, lost.ID)
	}
	if got := found(b, "aardvark"); len(got) != 1 {
		t.Fatalf("after restart, the first conversation: %v", got)
	}
	if n, err := b.IndexBehind(t.Context()); err != nil || n != 0 {
		t.Fatalf("behind after catch-up: %d, %v", n, err)
	}
}
