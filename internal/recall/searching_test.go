package recall_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"recall/internal/boltstore"
	"recall/internal/fulltext"
	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
)

// fixedAnalysis answers every conversation with the same analysis, whose
// words appear nowhere in the conversations here, so a test can tell a
// match on the analysis from one on the content. It records every call and
// every Forget, in order.
type fixedAnalysis struct {
	mu     sync.Mutex
	events []string
	// gate, if set, holds each Analyze until it is closed; started is told
	// when one begins.
	gate    chan struct{}
	started chan struct{}
	fail    error
}

func (a *fixedAnalysis) Analyze(ctx context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	if a.started != nil {
		a.started <- struct{}{}
	}
	if a.gate != nil {
		<-a.gate
	}
	a.record("analyze " + in.ConversationID)
	if a.fail != nil {
		return recall.Analysis{}, a.fail
	}
	return recall.Analysis{Summary: "The zeppelin hangar lease was renewed.", ActionItems: []string{"Dana: book the airship inspection"},
		Keywords: []string{"dirigible"}, Model: "fixed"}, nil
}

func (a *fixedAnalysis) Health(context.Context) (string, error) { return "fixed", nil }

func (a *fixedAnalysis) Forget(_ context.Context, in recall.AnalysisInput) error {
	a.record("forget " + in.ConversationID + " " + in.Owner + " " + in.Content)
	return nil
}

func (a *fixedAnalysis) record(e string) {
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
}

func (a *fixedAnalysis) log() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events)
}

// flakyIndex is a real index whose Index fails while failures are left,
// and whose Ping fails with pingErr.
type flakyIndex struct {
	inner    recall.Index
	failures atomic.Int32
	pingErr  error
}

func (f *flakyIndex) Index(ctx context.Context, c *recall.Conversation) error {
	if f.failures.Add(-1) >= 0 {
		return recall.Errorf(recall.EUNAVAILABLE, "the index is down (injected)")
	}
	return f.inner.Index(ctx, c)
}

func (f *flakyIndex) Delete(ctx context.Context, owner, id string) error {
	return f.inner.Delete(ctx, owner, id)
}

func (f *flakyIndex) Search(ctx context.Context, owner string, q recall.SearchQuery) (recall.SearchPage, error) {
	return f.inner.Search(ctx, owner, q)
}

func (f *flakyIndex) Ping(ctx context.Context) error {
	if f.pingErr != nil {
		return f.pingErr
	}
	return f.inner.Ping(ctx)
}

// searchEnv is a Service over bbolt, the in-memory queue and the embedded
// full-text index, with an analyzer the test chooses.
type searchEnv struct {
	svc   *recall.Service
	store *boltstore.Store
	queue *memq.Queue
	index *flakyIndex
	ai    *fixedAnalysis
}

func newSearchEnv(t *testing.T) *searchEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := boltstore.Open(filepath.Join(dir, "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	x, err := fulltext.Open(filepath.Join(dir, "search.bleve"), fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	q := memq.New(memq.Options{Visibility: time.Minute})
	t.Cleanup(func() { q.Close() })
	e := &searchEnv{store: st, queue: q, index: &flakyIndex{inner: x}, ai: &fixedAnalysis{}}
	e.svc = recall.NewService(recall.Config{Store: st, Queue: q, Analyzer: e.ai, Index: e.index,
		RetryBase: time.Millisecond, RetryMax: 4 * time.Millisecond, CursorKey: []byte("search-test-key")})
	return e
}

// drain handles jobs until the queue holds none, waiting out retries, and
// returns the outcomes in order.
func (e *searchEnv) drain(t *testing.T) []recall.Outcome {
	t.Helper()
	ctx := t.Context()
	var outcomes []recall.Outcome
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		jobs, err := e.queue.Receive(ctx, 8, 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			outcomes = append(outcomes, e.svc.Handle(ctx, j))
		}
		if len(jobs) > 0 {
			continue
		}
		st, err := e.queue.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.InFlight == 0 && st.Scheduled == 0 && st.Depth[recall.PriorityDefault]+st.Depth[recall.PriorityHigh]+st.Depth[recall.PriorityLow] == 0 {
			return outcomes
		}
	}
	t.Fatalf("the queue did not empty; outcomes so far %v", outcomes)
	return nil
}

func (e *searchEnv) create(t *testing.T, owner, title, content, key string) *recall.Conversation {
	t.Helper()
	c, _, err := e.svc.Create(t.Context(), owner, recall.CreateRequest{Title: title, Content: content}, key)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return c
}

// found returns the IDs a search by owner finds, failing on an error.
func (e *searchEnv) found(t *testing.T, owner, q string) []string {
	t.Helper()
	res, err := e.svc.Search(t.Context(), owner, q, recall.MaxSearchLimit, "")
	if err != nil {
		t.Fatalf("Search(%s, %q): %v", owner, q, err)
	}
	var ids []string
	for _, it := range res.Items {
		ids = append(ids, it.Conversation.ID)
	}
	return ids
}

// indexed returns the IDs the index itself holds for owner and q, to see
// entries the Service would hide.
func (e *searchEnv) indexed(t *testing.T, owner, q string) []string {
	t.Helper()
	page, err := e.index.Search(t.Context(), owner, recall.SearchQuery{Text: q, Limit: recall.MaxSearchLimit})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range page.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}

// A conversation is found by its title and content as soon as Create has
// returned, before any worker ran, and by its analysis once done, shown as
// Get shows it with the words marked.
func TestSearchFindsWhatWasJustCreated(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	c := e.create(t, "alice", "Kubernetes migration plan", "We need to migrate the push service before the freeze.", "")
	e.create(t, "alice", "Lunch", "Sandwiches on Friday.", "")
	if got := e.found(t, "alice", "kubernetes"); !slices.Equal(got, []string{c.ID}) {
		t.Fatalf("by title right after the create: %v, want %s", got, c.ID)
	}
	res, err := e.svc.Search(t.Context(), "alice", "migrating", 10, "")
	if err != nil || len(res.Items) != 1 {
		t.Fatalf("by content: %+v, %v", res, err)
	}
	hit := res.Items[0]
	recalltest.EqualConversation(t, hit.Conversation, c)
	if hit.Score <= 0 || hit.Score > 1 || !strings.Contains(strings.Join(hit.Highlights, " "), "<mark>migrate</mark>") {
		t.Fatalf("hit score %v, highlights %q", hit.Score, hit.Highlights)
	}
	if got := e.found(t, "alice", "zeppelin"); len(got) != 0 {
		t.Fatalf("the analysis is found before it exists: %v", got)
	}
	lunch := e.found(t, "alice", "lunch")
	e.drain(t)
	for _, q := range []string{"zeppelin", "\"airship inspection\"", "dirigible"} {
		if got := e.found(t, "alice", q); len(got) != 2 || !slices.Contains(got, c.ID) || !slices.Contains(got, lunch[0]) {
			t.Fatalf("%s once done: %v, want both conversations", q, got)
		}
	}
	done, _ := e.svc.Get(t.Context(), "alice", c.ID)
	res, _ = e.svc.Search(t.Context(), "alice", "kubernetes zeppelin", 10, "")
	if len(res.Items) == 0 || res.Items[0].Conversation.ID != c.ID {
		t.Fatalf("the conversation with both words is not first: %+v", res.Items)
	}
	recalltest.EqualConversation(t, res.Items[0].Conversation, done)
	if got := e.found(t, "bob", "kubernetes"); len(got) != 0 {
		t.Fatalf("bob finds alice's conversation: %v", got)
	}
}

func TestSearchRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	e.create(t, "alice", "Budget", "The budget review.", "")
	tests := []struct {
		name, q  string
		limit    int
		cursor   string
		mentions string
	}{
		{"blank", "  ", 10, "", "q"},
		{"too long", strings.Repeat("a", recall.MaxQueryLen+1), 10, "", "q"},
		{"only excluded", "-budget", 10, "", "q"},
		{"limit over", "budget", recall.MaxSearchLimit + 1, "", "limit"},
		{"limit negative", "budget", -1, "", "limit"},
		{"garbage cursor", "budget", 10, "%%%", "cursor"},
		{"forged cursor", "budget", 10, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.svc.Search(t.Context(), "alice", tt.q, tt.limit, tt.cursor)
			recalltest.WantCode(t, err, recall.EINVALID)
			if !strings.HasPrefix(recall.ErrorMessage(err), tt.mentions+" ") {
				t.Fatalf("message %q does not name %s", recall.ErrorMessage(err), tt.mentions)
			}
		})
	}
	if _, err := e.svc.Search(t.Context(), "alice", strings.Repeat("a", recall.MaxQueryLen), 0, ""); err != nil {
		t.Fatalf("a query of exactly %d characters: %v", recall.MaxQueryLen, err)
	}
}

// Pages follow one another without a repeat or a gap, and a cursor works
// only for the owner and the query it was made for.
func TestSearchCursor(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	var want []string
	for i := range 7 {
		want = append(want, e.create(t, "alice", fmt.Sprintf("Budget %d", i), "Budget talk number "+strings.Repeat("budget ", i), "").ID)
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		res, err := e.svc.Search(t.Context(), "alice", "budget", 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if page > 5 || len(res.Items) > 3 {
			t.Fatalf("page %d: %d items", page, len(res.Items))
		}
		for _, it := range res.Items {
			got = append(got, it.Conversation.ID)
		}
		if res.NextCursor == "" {
			break
		}
		if page == 0 {
			for name, try := range map[string]func() error{
				"another owner": func() error { _, err := e.svc.Search(t.Context(), "bob", "budget", 3, res.NextCursor); return err },
				"another query": func() error {
					_, err := e.svc.Search(t.Context(), "alice", "budget talk", 3, res.NextCursor)
					return err
				},
				"a list cursor": func() error {
					p, _ := e.svc.List(t.Context(), "alice", 1, "")
					_, err := e.svc.Search(t.Context(), "alice", "budget", 3, p.NextCursor)
					return err
				},
			} {
				if err := try(); recall.ErrorCode(err) != recall.EINVALID {
					t.Errorf("cursor used by %s: %v, want EINVALID", name, err)
				}
			}
		}
		cursor = res.NextCursor
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("pages hold %v, want each of %v once", got, want)
	}
}

// An index entry whose conversation the store no longer has is left out
// of the answer and removed from the index.
func TestSearchDropsWhatTheStoreLost(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	c := e.create(t, "alice", "Orphan", "A conversation the store will lose.", "")
	if _, err := e.store.Delete(t.Context(), "alice", c.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.indexed(t, "alice", "orphan"); len(got) != 1 {
		t.Fatalf("setup: the index holds %v", got)
	}
	if got := e.found(t, "alice", "orphan"); len(got) != 0 {
		t.Fatalf("search shows a conversation the store does not have: %v", got)
	}
	if got := e.indexed(t, "alice", "orphan"); len(got) != 0 {
		t.Fatalf("the entry stayed in the index: %v", got)
	}
}

func TestHealthReportsSearch(t *testing.T) {
	t.Parallel()
	e := newSearchEnv(t)
	if h := e.svc.Health(t.Context()); !h.Healthy || h.Components["search"] != "ok" {
		t.Fatalf("health %+v, want search ok", h)
	}
	e.index.pingErr = recall.Errorf(recall.EUNAVAILABLE, "disk gone")
	if h := e.svc.Health(t.Context()); h.Healthy || h.Components["search"] != recall.HealthUnavailable {
		t.Fatalf("health %+v, want search unavailable", h)
	}
	// Without an index health says so and stays healthy (nothing failed),
	// and Search answers that it is not offered, not that it is down.
	svc := recall.NewService(recall.Config{Store: e.store, Queue: e.queue, Analyzer: e.ai})
	if h := svc.Health(t.Context()); !h.Healthy || h.Components["search"] != recall.HealthNotConfigured {
		t.Fatalf("health without an index %+v, want healthy with search %q", h, recall.HealthNotConfigured)
	}
	_, err := svc.Search(t.Context(), "alice", "anything", 10, "")
	recalltest.WantCode(t, err, recall.EUNSUPPORTED)
}
