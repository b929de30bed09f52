package backends

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/config"
	"recall/internal/dynamo"
	"recall/internal/hybrid"
	"recall/internal/recall"
	"recall/internal/recall/searchtest"
	"recall/internal/redisq"
	"recall/internal/s3vec"
	"recall/internal/s3vec/s3vectest"
	"recall/internal/testenv"
)

// awsSearch is search on AWS against servers that speak the real wire
// formats: dynalite for the table, the Titan InvokeModel fake and the S3
// Vectors fake, each checking SigV4.
type awsSearch struct {
	dynamo  *dynamodb.Client
	store   *dynamo.Store
	embeds  *bedrocktest.EmbedServer
	vectors *s3vectest.Server
	b       *Set
}

func startAWSSearch(t *testing.T, withRedis bool) *awsSearch {
	t.Helper()
	ctx := t.Context()
	a := &awsSearch{
		dynamo:  testenv.DynamoClient(t, testenv.StartDynalite(t)),
		embeds:  bedrocktest.NewEmbedServer(t, ""),
		vectors: s3vectest.NewServer(t, bedrock.DefaultEmbedDimensions),
	}
	name := fmt.Sprintf("search-%d", time.Now().UnixNano())
	a.store = dynamo.New(a.dynamo, name, dynamo.Options{})
	if err := a.store.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	a.b = &Set{Log: slog.New(slog.DiscardHandler), Store: a.store, Config: config.Config{
		Region: "us-east-1",
		Store:  config.Store{DynamoTable: name},
		Search: config.Search{VectorBucket: s3vectest.Bucket, VectorIndex: s3vectest.IndexName, EmbedModel: bedrock.EmbedModelID},
	}}
	if withRedis {
		a.b.Redis = testenv.StartRedis(t).Client()
	}
	return a
}

// index builds search on AWS the way openHybrid does, with clients signed
// for the fakes.
func (a *awsSearch) index(t *testing.T) *hybrid.Index {
	t.Helper()
	ec, err := bedrock.NewClient(t.Context(), a.embeds.Region(), bedrock.WithBaseEndpoint(a.embeds.URL), bedrock.WithCredentials(a.embeds.Credentials()))
	if err != nil {
		t.Fatal(err)
	}
	vc, err := s3vec.NewClient(t.Context(), s3vectest.Region, s3vec.ClientOptions{BaseEndpoint: a.vectors.URL, Credentials: a.vectors.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := a.b.newHybrid(ec, vc)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// keywordItems counts owner's keyword items in the table.
func (a *awsSearch) keywordItems(t *testing.T, owner string) int {
	t.Helper()
	out, err := a.dynamo.Query(t.Context(), &dynamodb.QueryInput{
		TableName:                 aws.String(a.store.Table()),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "KW#" + owner}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Items)
}

// TestSearchOnAWS indexes conversations in the DynamoDB store as the
// worker leaves them, finds one by paraphrase and one by an exact ID, and
// deletes one: its vector and its keyword items go, and with them every
// way to find it.
func TestSearchOnAWS(t *testing.T) {
	ctx := t.Context()
	a := startAWSSearch(t, false)
	idx := a.index(t)

	outage := searchtest.Conv("alice", "Saturday maintenance", "The billing database was unavailable for forty minutes while we switched primaries. Ticket INC-4821.")
	outage.Status, outage.Summary = recall.StatusDone, "Billing was down during the primary switch."
	coffee := searchtest.Conv("alice", "Coffee", "The coffee machine on the third floor is broken again.")
	coffee.Status, coffee.Summary = recall.StatusDone, "The coffee machine needs a repair."
	bobs := searchtest.Conv("bob", "Saturday maintenance", "The billing database was unavailable too.")
	bobs.Status = recall.StatusDone
	for _, c := range []*recall.Conversation{outage, coffee, bobs} {
		if _, _, err := a.store.Create(ctx, c, nil); err != nil {
			t.Fatal(err)
		}
		if err := idx.Index(ctx, c); err != nil {
			t.Fatalf("Index %s: %v", c.Title, err)
		}
	}
	for _, tc := range []struct{ q, want string }{
		{"downtime", outage.ID},       // a paraphrase: the word is nowhere in it
		{"inc-4821", outage.ID},       // an ID, by keyword
		{"coffee machine", coffee.ID}, // plain words
	} {
		page, err := idx.Search(ctx, "alice", recall.SearchQuery{Text: tc.q})
		if err != nil {
			t.Fatalf("Search %q: %v", tc.q, err)
		}
		if len(page.Hits) == 0 || page.Hits[0].ID != tc.want {
			t.Errorf("Search %q = %+v, want %s first", tc.q, page.Hits, tc.want)
		}
		for _, h := range page.Hits {
			if h.ID == bobs.ID {
				t.Errorf("Search %q as alice found bob's conversation", tc.q)
			}
		}
	}

	before := a.keywordItems(t, "alice")
	if err := idx.Delete(ctx, "alice", outage.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if after := a.keywordItems(t, "alice"); after >= before || after == 0 {
		t.Errorf("keyword items %d before the delete, %d after; want the outage's gone and the coffee's kept", before, after)
	}
	for _, k := range a.vectors.Keys() {
		if strings.HasSuffix(k, ":"+outage.ID) {
			t.Errorf("vector %s is left after the delete", k)
		}
	}
	for _, q := range []string{"downtime", "inc-4821", "billing"} {
		page, err := idx.Search(ctx, "alice", recall.SearchQuery{Text: q})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page.Hits {
			if h.ID == outage.ID {
				t.Errorf("Search %q still finds the deleted conversation", q)
			}
		}
	}
	if err := idx.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// TestEmbeddingUsage: every embedding call, an indexed conversation's and
// an uncached query's, lands in the shared usage totals under the
// embedding model, which `recall usage` prices.
func TestEmbeddingUsage(t *testing.T) {
	ctx := t.Context()
	a := startAWSSearch(t, true)
	idx := a.index(t)
	c := searchtest.Conv("alice", "Vendor call", "Priya called Umbrella about the contract renewal.")
	c.Status = recall.StatusDone
	if _, _, err := a.store.Create(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	if err := idx.Index(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"contract renewal", "Contract  renewal", "umbrella"} { // the second is the first, cached
		if _, err := idx.Search(ctx, "alice", recall.SearchQuery{Text: q}); err != nil {
			t.Fatal(err)
		}
	}
	calls := len(a.embeds.Inputs())
	if calls != 3 {
		t.Fatalf("%d embedding calls, want 3 (one conversation, two distinct queries)", calls)
	}
	totals, err := redisq.NewUsage(a.b.Redis, "").Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(totals.Models) != 1 {
		t.Fatalf("usage totals %+v, want the embedding model alone", totals.Models)
	}
	m := totals.Models[0]
	if m.Model != bedrock.EmbedModelID || m.Calls != int64(calls) || m.InputTokens != idx.Tokens() || m.InputTokens == 0 {
		t.Errorf("usage %+v, want %s with %d calls and %d input tokens", m, bedrock.EmbedModelID, calls, idx.Tokens())
	}
	priced := bedrock.TotalsOf(totals.Since, []bedrock.ModelTotals{{Model: m.Model, Calls: m.Calls, InputTokens: m.InputTokens}}, nil)
	if len(priced.Unpriced) != 0 || priced.EstimatedCostUSD <= 0 {
		t.Errorf("the embedding model is not priced: %+v", priced)
	}
}

// TestKeywordsAgreeWithTheSuite runs the behaviour every recall.Index must
// have over the DynamoDB keyword items (the hybrid package runs it over
// keywords in memory), so the two cannot drift.
func TestKeywordsAgreeWithTheSuite(t *testing.T) {
	a := startAWSSearch(t, false)
	searchtest.Exercise(t, func(t *testing.T) recall.Index {
		ec, _ := bedrock.NewClient(t.Context(), a.embeds.Region(), bedrock.WithBaseEndpoint(a.embeds.URL), bedrock.WithCredentials(a.embeds.Credentials()))
		vectors := s3vectest.NewServer(t, bedrock.DefaultEmbedDimensions)
		vc, _ := s3vec.NewClient(t.Context(), s3vectest.Region, s3vec.ClientOptions{BaseEndpoint: vectors.URL, Credentials: vectors.Credentials()})
		loader := &convs{m: map[string]*recall.Conversation{}}
		idx := hybrid.New(bedrock.NewEmbedder(ec, bedrock.EmbedderOptions{}), s3vec.New(vc, s3vectest.Bucket, s3vectest.IndexName),
			a.store.Keywords(), loader, hybrid.Options{})
		return loaded{idx: idx, convs: loader}
	})
}

// convs is the Loader for the suite, which re-indexes a conversation with
// new content: the store's own rules (Apply) would not let it.
type convs struct {
	mu sync.Mutex
	m  map[string]*recall.Conversation
}

func (c *convs) Get(_ context.Context, owner, id string) (*recall.Conversation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[owner+"/"+id]; ok {
		return v, nil
	}
	return nil, recall.Errorf(recall.ENOTFOUND, "no conversation %s", id)
}

// loaded keeps each indexed conversation in convs, as the Service will have
// stored it before indexing.
type loaded struct {
	idx   *hybrid.Index
	convs *convs
}

func (l loaded) Index(ctx context.Context, c *recall.Conversation) error {
	cp := *c
	l.convs.mu.Lock()
	l.convs.m[c.Owner+"/"+c.ID] = &cp
	l.convs.mu.Unlock()
	return l.idx.Index(ctx, c)
}

func (l loaded) Delete(ctx context.Context, owner, id string) error {
	return l.idx.Delete(ctx, owner, id)
}

func (l loaded) Search(ctx context.Context, owner string, q recall.SearchQuery) (recall.SearchPage, error) {
	return l.idx.Search(ctx, owner, q)
}

func (l loaded) Ping(ctx context.Context) error { return l.idx.Ping(ctx) }

func TestOpenHybrid(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	// Not configured: nothing, and no error.
	b := &Set{Log: log, Config: config.Config{Region: "us-east-1"}}
	if idx, err := b.openHybrid(t.Context()); idx != nil || err != nil {
		t.Errorf("openHybrid without RECALL_VECTOR_BUCKET = %v, %v; want nil, nil", idx, err)
	}
	// Configured over a store that is not DynamoDB (the embedded one, say):
	// refused, naming why.
	b = &Set{Log: log, Store: struct{ recall.Store }{}, Config: config.Config{Region: "us-east-1",
		Search: config.Search{VectorBucket: "v", VectorIndex: "i", EmbedModel: bedrock.EmbedModelID}}}
	if idx, err := b.openHybrid(t.Context()); idx != nil || recall.ErrorCode(err) != recall.EINVALID || !strings.Contains(err.Error(), "DYNAMODB_TABLE") {
		t.Errorf("openHybrid over the embedded store = %v, %v; want EINVALID naming DYNAMODB_TABLE", idx, err)
	}
	// The configuration refuses it first.
	env := map[string]string{"RECALL_VECTOR_BUCKET": "v", "RECALL_VECTOR_INDEX": "i"}
	_, err := config.FromLookup(config.Local, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "RECALL_VECTOR_BUCKET") || !strings.Contains(err.Error(), "DYNAMODB_TABLE") {
		t.Errorf("FromLookup(vector bucket, no table) = %v; want an error naming both variables", err)
	}
}

// TestOpenSharesEmbeddingUsage: Open, as the functions call it, wires
// search on AWS to the Redis it opens, so an embedding's tokens reach the
// shared usage totals. (The index was once opened before the queue, when
// there was no Redis yet, and no function recorded any.) The environment
// holds one set of credentials, the Bedrock fake's, so the vector write
// that follows the embedding goes to a server that refuses it: the usage
// is recorded by then.
func TestOpenSharesEmbeddingUsage(t *testing.T) {
	embeds := bedrocktest.NewEmbedServer(t, "")
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"message":"refused"}`, http.StatusForbidden)
	}))
	t.Cleanup(refuse.Close)
	rdb := testenv.StartRedis(t)
	t.Setenv("AWS_ACCESS_KEY_ID", bedrocktest.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", bedrocktest.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", testenv.StartDynalite(t))
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", embeds.URL)
	t.Setenv("AWS_ENDPOINT_URL_S3VECTORS", refuse.URL)
	cfg := config.Config{
		Region: embeds.Region(),
		Store:  config.Store{DynamoTable: fmt.Sprintf("usage-%d", time.Now().UnixNano()), CreateTable: true},
		Redis:  config.Redis{URL: rdb.URL()},
		Search: config.Search{VectorBucket: s3vectest.Bucket, VectorIndex: s3vectest.IndexName, EmbedModel: bedrock.EmbedModelID},
	}
	b, err := Open(t.Context(), cfg, slog.New(slog.DiscardHandler), Embedded{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	c := searchtest.Conv("alice", "Vendor call", "Priya called Umbrella about the contract renewal.")
	c.Status = recall.StatusDone
	b.Index.Index(t.Context(), c) // the vector write fails; see above
	if len(embeds.Inputs()) != 1 {
		t.Fatalf("%d embedding calls, want 1", len(embeds.Inputs()))
	}
	totals, err := redisq.NewUsage(rdb.Client(), "").Totals(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(totals.Models) != 1 || totals.Models[0].Model != bedrock.EmbedModelID || totals.Models[0].Calls != 1 {
		t.Errorf("usage totals %+v; want the embedding call under %s", totals.Models, bedrock.EmbedModelID)
	}
}
