package dynamo_test

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"recall/internal/dynamo"
	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
	"recall/internal/testenv"
)

var tableSeq atomic.Int64

// newStore makes a fresh table on endpoint's server, deleted when the test
// ends, so tests can share one server.
func newStore(t testing.TB, client *dynamodb.Client) *dynamo.Store {
	t.Helper()
	name := fmt.Sprintf("recall-test-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	s := dynamo.New(client, name, dynamo.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.CreateTable(ctx); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	// A second call finds the table and does nothing.
	if err := s.CreateTable(ctx); err != nil {
		t.Fatalf("CreateTable on an existing table: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &name})
	})
	return s
}

func TestStore(t *testing.T) {
	client := testenv.DynamoClient(t, testenv.StartDynalite(t))
	recalltest.Store(t, func(t *testing.T) recall.Store { return newStore(t, client) })
}

// counter counts DynamoDB operations by name as the SDK sends them.
type counter struct {
	mu  sync.Mutex
	ops map[string]int
}

func (c *counter) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("count-requests",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				c.mu.Lock()
				c.ops[awsmiddleware.GetOperationName(ctx)]++
				c.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

// take returns the counts since the last take.
func (c *counter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.ops
	c.ops = map[string]int{}
	return got
}

func (c *counter) want(t *testing.T, what string, want map[string]int) {
	t.Helper()
	if got := c.take(); !maps.Equal(got, want) {
		t.Fatalf("%s made requests %v, want %v", what, got, want)
	}
}

// fixedAnalyzer answers every conversation with the same analysis.
type fixedAnalyzer struct{}

func (fixedAnalyzer) Analyze(context.Context, recall.AnalysisInput) (recall.Analysis, error) {
	return recall.Analysis{Summary: "s", ActionItems: []string{"a"}, Keywords: []string{"k"}, Model: "fixed"}, nil
}

func (fixedAnalyzer) Health(context.Context) (string, error) { return "local", nil }

// TestRequestCounts pins the cost of each use case in DynamoDB requests,
// through the real Service and worker: create is one write (two with an
// idempotency key), processing a job is two writes and no read.
func TestRequestCounts(t *testing.T) {
	ctx := t.Context()
	endpoint := testenv.StartDynalite(t)
	store := newStore(t, testenv.DynamoClient(t, endpoint))
	cnt := &counter{ops: map[string]int{}}
	counted := dynamo.New(testenv.DynamoClient(t, endpoint, cnt.option), store.Table(), dynamo.Options{})
	q := memq.New(memq.Options{})
	svc := recall.NewService(recall.Config{Store: counted, Queue: q, Analyzer: fixedAnalyzer{}})
	req := recall.CreateRequest{Content: "Alice: ship it on Friday."}

	c, _, err := svc.Create(ctx, "alice", req, "")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	cnt.want(t, "create", map[string]int{"PutItem": 1})

	c2, _, err := svc.Create(ctx, "alice", req, "idem-1")
	if err != nil {
		t.Fatalf("Create with key: %v", err)
	}
	cnt.want(t, "create with an idempotency key", map[string]int{"PutItem": 2})

	if _, replayed, err := svc.Create(ctx, "alice", req, "idem-1"); err != nil || !replayed {
		t.Fatalf("replay = (%v, %v)", replayed, err)
	}
	cnt.want(t, "replay", map[string]int{"PutItem": 1, "GetItem": 2})

	if _, err := svc.Get(ctx, "alice", c.ID); err != nil {
		t.Fatalf("Get: %v", err)
	}
	cnt.want(t, "get", map[string]int{"GetItem": 1})

	if _, err := svc.List(ctx, "alice", 10, ""); err != nil {
		t.Fatalf("List: %v", err)
	}
	cnt.want(t, "list", map[string]int{"Query": 1})

	jobs, err := q.Receive(ctx, 10, time.Second)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("Receive = %d jobs, %v", len(jobs), err)
	}
	for _, job := range jobs {
		if out := svc.Handle(ctx, job); out != recall.OutcomeDone {
			t.Fatalf("Handle = %s", out)
		}
		cnt.want(t, "processing a job", map[string]int{"UpdateItem": 2})
	}
	if got, err := store.Get(ctx, "alice", c2.ID); err != nil || got.Status != recall.StatusDone || got.Summary != "s" {
		t.Fatalf("after processing: %+v, %v", got, err)
	}

	// A duplicate delivery is refused by the start condition: one write,
	// one read to tell a conflict from a missing item (DynamoDB itself
	// returns the old item with the failure and needs no read).
	if out := svc.Handle(ctx, jobs[0]); out != recall.OutcomeSkipped {
		t.Fatalf("duplicate Handle = %s", out)
	}
	if got := cnt.take(); got["UpdateItem"] != 1 || got["GetItem"] > 1 || len(got) > 2 {
		t.Fatalf("duplicate delivery made requests %v", got)
	}

	if _, err := svc.Reprocess(ctx, "alice", c.ID); err != nil {
		t.Fatalf("Reprocess: %v", err)
	}
	cnt.want(t, "reprocess", map[string]int{"UpdateItem": 1})

	if _, err := svc.Sweep(ctx, 1); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	// Each shard of the stuck index, and each of its item-repair shards.
	cnt.want(t, "one sweep page", map[string]int{"Query": 2 * dynamo.StuckShards})
}

// TestLargeItemFits checks the largest conversation the API accepts fits
// in a DynamoDB item with its result, and that the stuck index does not copy
// the content.
func TestLargeItemFits(t *testing.T) {
	ctx := t.Context()
	client := testenv.DynamoClient(t, testenv.StartDynalite(t))
	s := newStore(t, client)
	c := recalltest.NewConversation("alice", time.Now())
	c.Content = strings.Repeat("🚀", recall.MaxContentChars)
	c.Title = strings.Repeat("語", recall.MaxTitleChars)
	if _, _, err := s.Create(ctx, c, nil); err != nil {
		t.Fatalf("Create: %v", err)
	}
	items, _, err := s.Stuck(ctx, time.Now().Add(time.Hour), "", 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("Stuck = %d items, %v", len(items), err)
	}
	if items[0].Content != "" || items[0].ID != c.ID || items[0].Run != 1 || items[0].Priority != c.Priority {
		t.Fatalf("stuck item = %+v; want keys and job fields without content", items[0])
	}
	got, err := s.Get(ctx, "alice", c.ID)
	if err != nil || got.Content != c.Content {
		t.Fatalf("Get: %v", err)
	}
}

// BenchmarkCreateGet measures one create and one get against dynalite, the
// request path of POST then GET. dynalite is slower than DynamoDB; the
// figure is for spotting regressions in request count and encoding cost.
func BenchmarkCreateGet(b *testing.B) {
	client := testenv.DynamoClient(b, testenv.StartDynalite(b))
	s := newStore(b, client)
	ctx := context.Background()
	var lats []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		c := recalltest.NewConversation(fmt.Sprint("owner-", i%20), t0)
		if _, _, err := s.Create(ctx, c, &recall.Idempotency{Key: fmt.Sprint("k", i), Fingerprint: "fp", Expires: t0.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(ctx, c.Owner, c.ID); err != nil {
			b.Fatal(err)
		}
		lats = append(lats, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	if len(lats) > 0 {
		b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99_ms")
	}
}

// TestFaultsAreUnavailable checks a missing table or a dead endpoint fails
// Ping and reaches clients as EUNAVAILABLE with a message that names no
// AWS internals.
func TestFaultsAreUnavailable(t *testing.T) {
	endpoint := testenv.StartDynalite(t)
	for name, client := range map[string]*dynamodb.Client{
		"missing table": testenv.DynamoClient(t, endpoint),
		"dead endpoint": testenv.DynamoClient(t, "http://127.0.0.1:1", func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			s := dynamo.New(client, "recall-no-such-table", dynamo.Options{})
			if err := s.Ping(ctx); err == nil {
				t.Fatal("Ping succeeded")
			}
			svc := recall.NewService(recall.Config{Store: s, Queue: memq.New(memq.Options{}), Analyzer: fixedAnalyzer{}})
			_, err := svc.Get(ctx, "alice", recall.NewID(time.Now()))
			recalltest.WantCode(t, err, recall.EUNAVAILABLE)
			if msg := recall.ErrorMessage(err); strings.Contains(msg, "recall-no-such-table") || strings.Contains(msg, "Exception") {
				t.Fatalf("client message leaks internals: %q", msg)
			}
			_, _, err = svc.Create(ctx, "alice", recall.CreateRequest{Content: "x"}, "key")
			recalltest.WantCode(t, err, recall.EUNAVAILABLE)
		})
	}
}

// TestDrainAndDirectCallRaceForOneRun: on DynamoDB too a scheduled drain and
// a direct call racing for one conversation make one model call between
// them, every time: the hold is checked in the start's condition
// expression, against the caller's clock.
func TestDrainAndDirectCallRaceForOneRun(t *testing.T) {
	store := newStore(t, testenv.DynamoClient(t, testenv.StartDynalite(t)))
	q := memq.New(memq.Options{Visibility: time.Minute})
	t.Cleanup(func() { q.Close() })
	recalltest.DrainRace(t, store, q, 100)
}

// failConversationPut makes the next PutItem of a conversation item fail
// with a server error: before DynamoDB sees it, or (landed) after DynamoDB
// applied it, as when the answer is lost on the way back.
type failConversationPut struct {
	armed, landed atomic.Bool
}

func (f *failConversationPut) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("fail-conversation-put",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				put, ok := in.Parameters.(*dynamodb.PutItemInput)
				if !ok {
					return next.HandleInitialize(ctx, in)
				}
				sk, _ := put.Item[dynamo.AttrSK].(*types.AttributeValueMemberS)
				if sk == nil || !strings.HasPrefix(sk.Value, "CONV#") || !f.armed.CompareAndSwap(true, false) {
					return next.HandleInitialize(ctx, in)
				}
				injected := &smithy.GenericAPIError{Code: "InternalServerError", Message: "injected failure"}
				if f.landed.Load() {
					out, md, err := next.HandleInitialize(ctx, in)
					if err != nil {
						return out, md, err
					}
					return middleware.InitializeOutput{}, md, injected
				}
				return middleware.InitializeOutput{}, middleware.Metadata{}, injected
			}), middleware.After)
	})
}

// TestFailedCreateReleasesItsIdempotencyKey: when the conversation's write
// fails for another reason than a lost race, the key it claimed is given
// back, so a retry with a corrected body creates the conversation instead
// of getting 409 for a day; when the write landed but its answer was lost,
// the create succeeded, and a retry replays it.
func TestFailedCreateReleasesItsIdempotencyKey(t *testing.T) {
	ctx := t.Context()
	endpoint := testenv.StartDynalite(t)
	table := newStore(t, testenv.DynamoClient(t, endpoint)).Table()
	fault := &failConversationPut{}
	s := dynamo.New(testenv.DynamoClient(t, endpoint, fault.option), table, dynamo.Options{})
	future := time.Now().Add(time.Hour)

	fault.armed.Store(true)
	first := recalltest.NewConversation("alice", time.Now())
	if _, _, err := s.Create(ctx, first, &recall.Idempotency{Key: "k1", Fingerprint: "body-1", Expires: future}); err == nil || recall.ErrorCode(err) == recall.ECONFLICT {
		t.Fatalf("create with the write failing: %v, want a store failure", err)
	}
	if _, err := s.Get(ctx, "alice", first.ID); recall.ErrorCode(err) != recall.ENOTFOUND {
		t.Fatalf("the failed write left a conversation: %v", err)
	}
	fixed := recalltest.NewConversation("alice", time.Now())
	got, created, err := s.Create(ctx, fixed, &recall.Idempotency{Key: "k1", Fingerprint: "body-2", Expires: future})
	if err != nil || !created || got.ID != fixed.ID {
		t.Fatalf("retry with a corrected body = (created %v, %v), want the new conversation", created, err)
	}

	fault.landed.Store(true)
	fault.armed.Store(true)
	lost := recalltest.NewConversation("alice", time.Now())
	got, created, err = s.Create(ctx, lost, &recall.Idempotency{Key: "k2", Fingerprint: "body-3", Expires: future})
	if err != nil || !created || got.ID != lost.ID {
		t.Fatalf("create whose answer was lost = (%v, created %v, %v), want it created", got, created, err)
	}
	again, created, err := s.Create(ctx, recalltest.NewConversation("alice", time.Now()), &recall.Idempotency{Key: "k2", Fingerprint: "body-3", Expires: future})
	if err != nil || created || again.ID != lost.ID {
		t.Fatalf("its retry = (created %v, %v), want a replay of %s", created, err, lost.ID)
	}
}
