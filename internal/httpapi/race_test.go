package httpapi_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"recall/internal/extract"
	"recall/internal/fulltext"
	"recall/internal/httpapi"
	"recall/internal/recall"
)

// gatedAnalyzer is the local analyzer held at a gate: each Analyze reports
// on started, then waits for gate to close.
type gatedAnalyzer struct {
	recall.Analyzer
	started chan string
	gate    chan struct{}
}

func (g *gatedAnalyzer) Analyze(ctx context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	g.started <- in.ConversationID
	select {
	case <-g.gate:
	case <-ctx.Done():
		return recall.Analysis{}, ctx.Err()
	}
	return g.Analyzer.Analyze(ctx, in)
}

// A delete racing the worker, through the API with the real worker loop,
// store and index: one conversation is deleted while its analysis runs,
// another while its job waits in the queue behind it. Both jobs end, and
// nothing comes back: no conversation, no index entry, no list item, no
// dead letter.
func TestDeleteRacesTheWorker(t *testing.T) {
	t.Parallel()
	idx, err := fulltext.Open(filepath.Join(t.TempDir(), "search.bleve"), fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	ai := &gatedAnalyzer{Analyzer: extract.New(extract.Options{}), started: make(chan string, 4), gate: make(chan struct{})}
	e := newServiceEnv(t, func(c *recall.Config) { c.Index, c.Analyzer = idx, ai })

	wctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := e.svc.Work(wctx, recall.WorkerConfig{Concurrency: 1, Wait: 20 * time.Millisecond}); err != nil {
			t.Errorf("Work: %v", err)
		}
	})
	defer func() { stop(); wg.Wait() }()

	running := e.createTitled(t, "alice", "Gannet", "the gannet migration plan")
	if got := <-ai.started; got != running.ID {
		t.Fatalf("the worker started %s, want %s", got, running.ID)
	}
	queued := e.createTitled(t, "alice", "Gannet two", "the gannet survey")
	for _, c := range []string{running.ID, queued.ID} {
		if w := e.do(t, req{method: "DELETE", target: "/api/conversations/" + c, as: "alice"}); w.Code != http.StatusNoContent {
			t.Fatalf("delete %s: %d %s", c, w.Code, w.Body)
		}
	}
	close(ai.gate)

	// Both jobs leave the queue.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := e.queue.Stats(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.InFlight == 0 && st.Depth[recall.PriorityDefault] == 0 && st.Scheduled == 0 {
			if st.Dead != 0 {
				t.Fatalf("a job of a deleted conversation was dead-lettered: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs still queued after 10s: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case id := <-ai.started:
		t.Errorf("the queued job of deleted %s was analysed", id)
	default:
	}
	for _, c := range []string{running.ID, queued.ID} {
		checkError(t, e.do(t, req{method: "GET", target: "/api/conversations/" + c, as: "alice"}), 404, recall.ENOTFOUND)
	}
	// Counted before searching: a search drops (and unindexes) hits the
	// store no longer has, which would hide an entry left behind.
	if n, err := idx.Count(); err != nil || n != 0 {
		t.Errorf("the index holds %d documents (%v), want none", n, err)
	}
	if got := e.search(t, "alice", "gannet", ""); len(got.Items) != 0 {
		t.Errorf("search finds deleted conversations: %v", ids(got))
	}
	if l := decode[httpapi.ConversationList](t, e.do(t, req{method: "GET", target: "/api/conversations", as: "alice"})); len(l.Items) != 0 {
		t.Errorf("the list shows %d conversations", len(l.Items))
	}
}
