package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"recall/internal/dynamo"
	"recall/internal/recall"
	"recall/internal/testenv"
)

// partition lists the sort keys of owner's keyword items, read directly,
// so tests see what is stored rather than what Match chooses to return.
func partition(t *testing.T, client *dynamodb.Client, table, owner string) []string {
	t.Helper()
	out, err := client.Query(t.Context(), &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "KW#" + owner}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("query partition: %v", err)
	}
	var sks []string
	for _, it := range out.Items {
		sks = append(sks, it["sk"].(*types.AttributeValueMemberS).Value)
	}
	return sks
}

// manyTerms returns n distinct terms, more than one BatchWriteItem takes.
func manyTerms(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("term%03d", i)
	}
	return out
}

func TestKeywordsMatch(t *testing.T) {
	ctx := t.Context()
	client := testenv.DynamoClient(t, testenv.StartDynalite(t))
	kw := newStore(t, client).Keywords()
	// IDs sort by creation, like ULIDs: 03 is the newest.
	for _, c := range []struct {
		owner, id string
		terms     []string
	}{
		{"alice", "01", []string{"migrat", "push", "=migrating", "inc", "4821"}},
		{"alice", "02", []string{"push", "budget", "plan", "=planning"}},
		{"alice", "03", []string{"push", "plan", "planet"}},
		{"bob", "04", []string{"push", "migrat"}},
	} {
		if err := kw.Set(ctx, c.owner, c.id, c.terms); err != nil {
			t.Fatalf("Set %s: %v", c.id, err)
		}
	}
	for _, tc := range []struct {
		name   string
		owner  string
		term   string
		prefix bool
		limit  int
		want   []string
	}{
		{"one conversation holds the term", "alice", "migrat", false, 10, []string{"01"}},
		{"newest first", "alice", "push", false, 10, []string{"03", "02", "01"}},
		{"limit", "alice", "push", false, 2, []string{"03", "02"}},
		{"only the owner's", "bob", "push", false, 10, []string{"04"}},
		{"a term is not a prefix of a longer one", "alice", "plan", false, 10, []string{"03", "02"}},
		{"prefix spans terms, each ID once", "alice", "plan", true, 10, []string{"03", "02"}},
		{"prefix of a word as written", "alice", "=plann", true, 10, []string{"02"}},
		{"an ID-like term", "alice", "4821", false, 10, []string{"01"}},
		{"nothing holds it", "alice", "zebra", false, 10, nil},
		{"another owner's term", "alice", "nothing", true, 10, nil},
		{"the manifest prefix finds no manifest", "alice", "DOC", true, 10, nil},
		{"the manifest term finds no manifest", "alice", "DOC", false, 10, nil},
		{"limit zero", "alice", "push", false, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kw.Match(ctx, tc.owner, tc.term, tc.prefix, tc.limit)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Match(%q, %q, prefix=%v, %d) = %v, want %v", tc.owner, tc.term, tc.prefix, tc.limit, got, tc.want)
			}
		})
	}
	if _, err := kw.Match(ctx, "alice", "", true, 10); recall.ErrorCode(err) != recall.EINVALID {
		t.Errorf("Match of an empty prefix = %v, want EINVALID (it would match everything)", err)
	}
}

func TestKeywordsSetAndRemove(t *testing.T) {
	client := testenv.DynamoClient(t, testenv.StartDynalite(t))
	store := newStore(t, client)
	long := strings.Repeat("x", dynamo.MaxTermBytes+1)
	for _, tc := range []struct {
		name  string
		sets  [][]string // Set calls in order, for conversation "01"
		want  []string   // term items left after them (manifest aside)
		match string     // a term that must find "01" afterwards
	}{
		{"first set", [][]string{{"alpha", "beta"}}, []string{"alpha", "beta"}, "beta"},
		{"replace drops old terms", [][]string{{"alpha", "beta"}, {"beta", "gamma"}}, []string{"beta", "gamma"}, "gamma"},
		{"more terms than one batch", [][]string{manyTerms(60)}, manyTerms(60), "term059"},
		{"shrink across batches", [][]string{manyTerms(60), manyTerms(3)}, manyTerms(3), "term002"},
		{"duplicates, empty and overlong terms", [][]string{{"alpha", "alpha", "", long}}, []string{"alpha"}, "alpha"},
		{"set to nothing", [][]string{{"alpha"}, nil}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			kw := store.Keywords()
			owner := "owner-" + strings.ReplaceAll(tc.name, " ", "-")
			for _, terms := range tc.sets {
				if err := kw.Set(ctx, owner, "01", terms); err != nil {
					t.Fatalf("Set: %v", err)
				}
			}
			var want []string
			for _, term := range tc.want {
				want = append(want, term+"#01")
			}
			want = append(want, "DOC#01")
			got := partition(t, client, store.Table(), owner)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("items after Set = %v, want %v", got, want)
			}
			if tc.match != "" {
				if ids, err := kw.Match(ctx, owner, tc.match, false, 5); err != nil || !slices.Equal(ids, []string{"01"}) {
					t.Errorf("Match(%q) = %v, %v; want [01]", tc.match, ids, err)
				}
			}
			if err := kw.Remove(ctx, owner, "01"); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if left := partition(t, client, store.Table(), owner); len(left) != 0 {
				t.Errorf("items after Remove = %v, want none", left)
			}
			if err := kw.Remove(ctx, owner, "01"); err != nil {
				t.Errorf("Remove of a conversation no longer indexed = %v, want nil", err)
			}
		})
	}
}

func TestKeywordsRefuseKeysThatCollide(t *testing.T) {
	client := testenv.DynamoClient(t, testenv.StartDynalite(t))
	store := newStore(t, client)
	kw := store.Keywords()
	for _, tc := range []struct {
		name  string
		id    string
		terms []string
	}{
		{"id holding #", "01#x", []string{"alpha"}},
		{"empty id", "", []string{"alpha"}},
		{"term holding #", "01", []string{"al#pha"}},
		{"the manifest's prefix as a term", "01", []string{"DOC"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := kw.Set(t.Context(), "alice", tc.id, tc.terms); recall.ErrorCode(err) != recall.EINVALID {
				t.Errorf("Set(%q, %q) = %v, want EINVALID", tc.id, tc.terms, err)
			}
		})
	}
	if left := partition(t, client, store.Table(), "alice"); len(left) != 0 {
		t.Errorf("refused Sets wrote %v", left)
	}
}

// TestKeywordsAccessPattern pins the requests of each method: Set and
// Remove read the manifest and batch their term items, Match is one
// Query, and nothing ever scans the table.
func TestKeywordsAccessPattern(t *testing.T) {
	ctx := t.Context()
	endpoint := testenv.StartDynalite(t)
	store := newStore(t, testenv.DynamoClient(t, endpoint))
	cnt := &counter{ops: map[string]int{}}
	kw := dynamo.New(testenv.DynamoClient(t, endpoint, cnt.option), store.Table(), dynamo.Options{}).Keywords()

	steps := []struct {
		name string
		do   func() error
		want map[string]int
	}{
		{"first Set of 30 terms", func() error { return kw.Set(ctx, "alice", "01", manyTerms(30)) },
			map[string]int{"GetItem": 1, "PutItem": 2, "BatchWriteItem": 2}},
		{"Set of the same terms", func() error { return kw.Set(ctx, "alice", "01", manyTerms(30)) },
			map[string]int{"GetItem": 1}},
		{"Set dropping terms only", func() error { return kw.Set(ctx, "alice", "01", manyTerms(10)) },
			map[string]int{"GetItem": 1, "PutItem": 1, "BatchWriteItem": 1}},
		{"Match", func() error { _, err := kw.Match(ctx, "alice", "term001", false, 10); return err },
			map[string]int{"Query": 1}},
		{"prefix Match", func() error { _, err := kw.Match(ctx, "alice", "term", true, 10); return err },
			map[string]int{"Query": 1}},
		{"Remove", func() error { return kw.Remove(ctx, "alice", "01") },
			map[string]int{"GetItem": 1, "BatchWriteItem": 1, "DeleteItem": 1}},
		{"Remove of nothing", func() error { return kw.Remove(ctx, "alice", "01") },
			map[string]int{"GetItem": 1}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		cnt.want(t, st.name, st.want)
	}
}

// batchFault makes BatchWriteItem behave as DynamoDB does when it
// throttles part of a batch: it sends only the first keep requests of each
// call and answers the rest as UnprocessedItems. keep < 0 lets every call
// through; failCall > 0 fails that call (counting from 1) outright.
type batchFault struct {
	mu       sync.Mutex
	keep     int
	calls    int
	failCall int
}

func (f *batchFault) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("batch-fault",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if awsmiddleware.GetOperationName(ctx) != "BatchWriteItem" {
					return next.HandleInitialize(ctx, in)
				}
				f.mu.Lock()
				f.calls++
				keep, failNow := f.keep, f.calls == f.failCall
				f.mu.Unlock()
				if failNow {
					return middleware.InitializeOutput{}, middleware.Metadata{}, errors.New("connection reset by the test")
				}
				params := in.Parameters.(*dynamodb.BatchWriteItemInput)
				var table string
				var reqs []types.WriteRequest
				for table, reqs = range params.RequestItems {
				}
				if keep < 0 || keep >= len(reqs) {
					return next.HandleInitialize(ctx, in)
				}
				rest := reqs[keep:]
				if keep == 0 {
					return middleware.InitializeOutput{Result: &dynamodb.BatchWriteItemOutput{
						UnprocessedItems: map[string][]types.WriteRequest{table: rest}}}, middleware.Metadata{}, nil
				}
				in.Parameters = &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs[:keep]}}
				out, md, err := next.HandleInitialize(ctx, in)
				if err == nil {
					out.Result.(*dynamodb.BatchWriteItemOutput).UnprocessedItems = map[string][]types.WriteRequest{table: rest}
				}
				return out, md, err
			}), middleware.After)
	})
}

func TestKeywordsRetryUnprocessedWrites(t *testing.T) {
	endpoint := testenv.StartDynalite(t)
	plain := testenv.DynamoClient(t, endpoint)
	store := newStore(t, plain)
	for _, tc := range []struct {
		name    string
		keep    int
		wantErr string
		sleeps  int
	}{
		{"part of each batch is processed", 7, "", 3}, // 25 terms 7 a call: 4 calls, 3 waits; then 5 in one
		{"nothing is ever processed", 0, recall.ETHROTTLED, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			f := &batchFault{keep: tc.keep}
			kw := dynamo.New(testenv.DynamoClient(t, endpoint, f.option), store.Table(), dynamo.Options{}).Keywords()
			var slept []time.Duration
			dynamo.SetKeywordsSleep(kw, func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil })
			owner := "owner-" + fmt.Sprint(tc.keep)
			err := kw.Set(ctx, owner, "01", manyTerms(30))
			if recall.ErrorCode(err) != tc.wantErr || (tc.wantErr == "" && err != nil) {
				t.Fatalf("Set = %v, want code %q", err, tc.wantErr)
			}
			if len(slept) != tc.sleeps {
				t.Errorf("waited %d times (%v), want %d", len(slept), slept, tc.sleeps)
			}
			for i := 1; i < len(slept); i++ {
				if slept[i] < slept[i-1] {
					t.Errorf("backoff shrank: %v", slept)
				}
			}
			if tc.wantErr != "" {
				return
			}
			got := partition(t, plain, store.Table(), owner)
			if len(got) != 31 {
				t.Errorf("%d items stored, want 30 terms and the manifest", len(got))
			}
		})
	}
}

// TestKeywordsFailureHalfwayLeavesNothingBehind fails a Set after its
// first batch of term items: the manifest already names them, so Remove
// deletes every item the failed Set wrote.
func TestKeywordsFailureHalfwayLeavesNothingBehind(t *testing.T) {
	ctx := t.Context()
	endpoint := testenv.StartDynalite(t)
	plain := testenv.DynamoClient(t, endpoint)
	store := newStore(t, plain)
	f := &batchFault{keep: -1, failCall: 3} // 1: the first Set; 2, 3: the second's two batches
	kw := dynamo.New(testenv.DynamoClient(t, endpoint, f.option), store.Table(), dynamo.Options{}).Keywords()
	if err := kw.Set(ctx, "alice", "01", []string{"alpha"}); err != nil {
		t.Fatalf("first Set: %v", err)
	}
	if err := kw.Set(ctx, "alice", "01", manyTerms(40)); err == nil {
		t.Fatal("Set with a failing second batch succeeded")
	}
	if n := len(partition(t, plain, store.Table(), "alice")); n <= 2 {
		t.Fatalf("the failed Set left %d items; the test wants it to have written its first batch", n)
	}
	if err := store.Keywords().Remove(ctx, "alice", "01"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if left := partition(t, plain, store.Table(), "alice"); len(left) != 0 {
		t.Errorf("after Remove, %d item(s) are left behind: %v", len(left), left)
	}
}
