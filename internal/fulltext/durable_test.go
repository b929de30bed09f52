package fulltext_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/oklog/ulid/v2"

	"recall/internal/fulltext"
	"recall/internal/recall"
)

// memSource is a store as far as CatchUp and Rebuild see one: a scan in
// insertion order that, like a real store may, leaves Content out of its
// items, and a Get that fills it in.
type memSource struct {
	mu    sync.Mutex
	convs []*recall.Conversation
	gets  int
}

func (s *memSource) add(cs ...*recall.Conversation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.convs = append(s.convs, cs...)
}

func (s *memSource) Scan(ctx context.Context, f recall.ScanFilter, cursor string, limit int) (recall.ScanPage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := 0
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil {
			return recall.ScanPage{}, recall.Errorf(recall.EINVALID, "bad cursor")
		}
		from = n
	}
	var page recall.ScanPage
	i := from
	for ; i < len(s.convs) && len(page.Items) < limit; i++ {
		if c := s.convs[i]; f.Match(c) {
			item := *c
			item.Content = "" // scans may leave it out
			page.Items = append(page.Items, &item)
		}
	}
	if i < len(s.convs) {
		page.Next = strconv.Itoa(i)
	}
	return page, nil
}

func (s *memSource) Get(ctx context.Context, owner, id string) (*recall.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	for _, c := range s.convs {
		if c.ID == id && c.Owner == owner {
			cp := *c
			return &cp, nil
		}
	}
	return nil, recall.Errorf(recall.ENOTFOUND, "no conversation %s", id)
}

// numbered makes n conversations of owner, each findable by "marker<i>",
// changed a second apart from base.
func numbered(owner string, n int, base time.Time) []*recall.Conversation {
	out := make([]*recall.Conversation, n)
	for i := range out {
		at := base.Add(time.Duration(i) * time.Second)
		out[i] = &recall.Conversation{
			ID: ulid.MustNew(ulid.Timestamp(at), zeros{}).String(), Owner: owner, Title: fmt.Sprintf("Note %d", i),
			Content: fmt.Sprintf("marker%d and the common word kestrel", i), Status: recall.StatusPending,
			Run: 1, Priority: recall.PriorityDefault, CreatedAt: at, UpdatedAt: at,
		}
	}
	return out
}

// zeros is entropy for IDs that are the same in every process: numbered
// conversations are a second apart, so the timestamp alone tells them apart.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// findable reports which of cs a search for their marker finds.
func findable(t *testing.T, x *fulltext.Index, cs []*recall.Conversation) (found, missing []*recall.Conversation) {
	t.Helper()
	for i, c := range cs {
		page, err := x.Search(context.Background(), c.Owner, recall.SearchQuery{Text: fmt.Sprintf("marker%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Hits) == 1 && page.Hits[0].ID == c.ID {
			found = append(found, c)
		} else {
			missing = append(missing, c)
		}
	}
	return found, missing
}

func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "search.bleve")
	x, err := fulltext.Open(path, fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs := numbered("alice", 50, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, c := range cs {
		if err := x.Index(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	want := x.Watermark()
	if want.ID != cs[len(cs)-1].ID {
		t.Fatalf("watermark %+v, want the last conversation indexed", want)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x, err = fulltext.Open(path, fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if got := x.Watermark(); !got.UpdatedAt.Equal(want.UpdatedAt) || got.ID != want.ID {
		t.Fatalf("watermark after restart %+v, want %+v", got, want)
	}
	if _, missing := findable(t, x, cs); len(missing) > 0 {
		t.Fatalf("%d of %d conversations lost by a clean restart", len(missing), len(cs))
	}
}

// crashEnv names the directory the crashing child indexes into.
const crashEnv = "FULLTEXT_CRASH_DIR"

// TestCrashChild is not a test of its own: TestCatchUpAfterCrash runs the
// test binary again with crashEnv set, and this indexes and then dies
// without closing anything, as a killed process would.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCatchUpAfterCrash")
	}
	x, err := fulltext.Open(dir, fulltext.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, c := range numbered("alice", 300, crashBase) {
		if err := x.Index(context.Background(), c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	os.Exit(3) // no Close: the background persister never finishes
}

var crashBase = time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)

func TestCatchUpAfterCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "search.bleve")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("child: %v\n%s", err, out)
	}

	x, err := fulltext.Open(path, fulltext.Options{Margin: time.Minute})
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	defer x.Close()
	cs := numbered("alice", 300, crashBase)
	src := &memSource{}
	src.add(cs...)

	w := x.Watermark()
	found, missing := findable(t, x, cs)
	t.Logf("after the crash the index kept %d of %d conversations, watermark %s", len(found), len(cs), w.UpdatedAt.Format(time.TimeOnly))
	// The watermark never claims a conversation the index lost.
	for _, c := range missing {
		if !c.UpdatedAt.After(w.UpdatedAt.Add(-time.Minute)) {
			t.Fatalf("lost %s (updated %s) though the watermark %s claims it", c.ID, c.UpdatedAt, w.UpdatedAt)
		}
	}
	behind, err := x.Behind(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if behind < len(missing)-60 { // the last minute may be indexed or not
		t.Fatalf("Behind = %d, but %d conversations are missing", behind, len(missing))
	}
	n, err := x.CatchUp(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if _, still := findable(t, x, cs); len(still) > 0 {
		t.Fatalf("CatchUp indexed %d but %d conversations are still missing", n, len(still))
	}
	if src.gets != n {
		t.Errorf("CatchUp read content with %d Gets for %d conversations scanned without it", src.gets, n)
	}
	if behind, _ := x.Behind(context.Background(), src); behind != 0 {
		t.Errorf("Behind after CatchUp = %d, want 0", behind)
	}
}

func TestCatchUpIndexesOnlyRecentChanges(t *testing.T) {
	x := open(t)
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	old := numbered("alice", 100, base)
	for _, c := range old {
		if err := x.Index(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	// Changes the index did not see: 20 new conversations after it.
	fresh := numbered("alice", 120, base)[100:]
	src := &memSource{}
	src.add(old...)
	src.add(fresh...)
	if n, _ := x.Behind(context.Background(), src); n != 20 {
		t.Fatalf("Behind = %d, want 20", n)
	}
	n, err := x.CatchUp(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	// 20 new ones plus those within the one-minute margin before the watermark.
	if n < 20 || n > 20+61 {
		t.Fatalf("CatchUp indexed %d, want the 20 new ones and at most a minute's worth before", n)
	}
	if _, missing := findable(t, x, numbered("alice", 120, base)); len(missing) > 0 {
		t.Fatalf("%d missing after CatchUp", len(missing))
	}
}

func TestRebuild(t *testing.T) {
	x := open(t)
	base := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	stale := numbered("bob", 30, base)
	for _, c := range stale {
		if err := x.Index(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	cs := numbered("alice", 1234, base)
	src := &memSource{}
	src.add(cs...)
	var progress []int
	n, err := x.Rebuild(context.Background(), src, func(n int) { progress = append(progress, n) })
	if err != nil {
		t.Fatal(err)
	}
	if n != len(cs) {
		t.Fatalf("Rebuild indexed %d, want %d", n, len(cs))
	}
	if len(progress) < 3 || progress[len(progress)-1] != len(cs) || !slices.IsSorted(progress) {
		t.Fatalf("progress %v: want rising counts ending at %d", progress, len(cs))
	}
	if count, _ := x.Count(); count != uint64(len(cs)) {
		t.Fatalf("index holds %d documents, want %d: the rebuild must replace, not add", count, len(cs))
	}
	if _, missing := findable(t, x, cs); len(missing) > 0 {
		t.Fatalf("%d missing after Rebuild", len(missing))
	}
	page, err := x.Search(context.Background(), "bob", recall.SearchQuery{Text: "kestrel"})
	if err != nil || len(page.Hits) != 0 {
		t.Fatalf("bob's conversations, not in the store, survived the rebuild: %v %v", page.Hits, err)
	}
}

func TestOtherSchemaIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "search.bleve")
	x, err := fulltext.Open(path, fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Index(context.Background(), numbered("alice", 1, time.Now())[0]); err != nil {
		t.Fatal(err)
	}
	x.Close()
	// Pretend an older release wrote it.
	raw, err := bleve.OpenUsing(path, map[string]any{"unsafe_batch": false}) // sync this write
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.SetInternal([]byte("recall.schema"), []byte("recall-fulltext-0")); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	x, err = fulltext.Open(path, fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if n, _ := x.Count(); n != 0 || !x.Watermark().UpdatedAt.IsZero() {
		t.Fatalf("reopened index has %d documents and watermark %+v, want a fresh one", n, x.Watermark())
	}
	aside, _ := filepath.Glob(path + ".old-*")
	if len(aside) != 1 {
		t.Fatalf("old index not kept aside: %v", aside)
	}
}

func TestSecondOpenFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "search.bleve")
	x, err := fulltext.Open(path, fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	done := make(chan error, 1)
	go func() {
		y, err := fulltext.Open(path, fulltext.Options{})
		if err == nil {
			y.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a second Open of an open index succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second Open blocks instead of failing")
	}
}

// TestCreatedIndexOpensAfterAKill: a process killed right after it created
// the index (before any background persist) leaves an index that opens,
// and one whose files were cut short is rebuilt rather than refusing to
// start, since the store refills it.
func TestCreatedIndexOpensAfterAKill(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "search.bleve")
	x, err := fulltext.Open(path, fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// What a SIGKILL leaves: the files as written so far, never closed.
	// A copy taken now is what the next process finds.
	killed := filepath.Join(dir, "killed.bleve")
	if err := os.CopyFS(killed, os.DirFS(path)); err != nil {
		t.Fatal(err)
	}
	x.Close()
	y, err := fulltext.Open(killed, fulltext.Options{})
	if err != nil {
		t.Fatalf("an index created by a killed process does not open: %v", err)
	}
	y.Close()

	cut := filepath.Join(dir, "cut.bleve")
	if err := os.MkdirAll(cut, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cut, "index_meta.json"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	z, err := fulltext.Open(cut, fulltext.Options{})
	if err != nil {
		t.Fatalf("a half-written index is not rebuilt: %v", err)
	}
	defer z.Close()
	if aside, _ := filepath.Glob(cut + ".old-*"); len(aside) != 1 {
		t.Errorf("the unreadable index was not moved aside: %v", aside)
	}
}
