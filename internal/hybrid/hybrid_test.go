package hybrid_test

import (
	"context"
	"sort"
	"strings"
	"sync"
	"testing"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/hybrid"
	"recall/internal/recall"
	"recall/internal/recall/searchtest"
	"recall/internal/s3vec"
	"recall/internal/s3vec/s3vectest"
)

// memKeywords is the keyword index in memory: the fake the DynamoDB one
// must agree with.
type memKeywords struct {
	mu    sync.Mutex
	terms map[string]map[string][]string // owner → id → terms
}

func (m *memKeywords) Set(ctx context.Context, owner, id string, terms []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.terms == nil {
		m.terms = map[string]map[string][]string{}
	}
	if m.terms[owner] == nil {
		m.terms[owner] = map[string][]string{}
	}
	m.terms[owner][id] = terms
	return nil
}

func (m *memKeywords) Remove(ctx context.Context, owner, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.terms[owner], id)
	return nil
}

func (m *memKeywords) Match(ctx context.Context, owner, term string, prefix bool, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for id, ts := range m.terms[owner] {
		for _, t := range ts {
			if t == term || (prefix && strings.HasPrefix(t, term)) {
				out = append(out, id)
				break
			}
		}
	}
	sort.Strings(out)
	return out[:min(limit, len(out))], nil
}

// memStore is the Loader: conversations by owner and ID.
type memStore struct {
	mu    sync.Mutex
	convs map[string]*recall.Conversation
}

func (s *memStore) put(c *recall.Conversation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.convs == nil {
		s.convs = map[string]*recall.Conversation{}
	}
	cp := *c
	s.convs[c.Owner+"/"+c.ID] = &cp
}

func (s *memStore) Get(ctx context.Context, owner, id string) (*recall.Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.convs[owner+"/"+id]; ok {
		return c, nil
	}
	return nil, recall.Errorf(recall.ENOTFOUND, "no conversation %s", id)
}

// storing wraps the index so every indexed conversation is also in the
// store, as the Service will have written it first.
type storing struct {
	idx   *hybrid.Index
	store *memStore
}

func (s storing) Index(ctx context.Context, c *recall.Conversation) error {
	s.store.put(c)
	return s.idx.Index(ctx, c)
}

func (s storing) Delete(ctx context.Context, owner, id string) error {
	return s.idx.Delete(ctx, owner, id)
}

func (s storing) Search(ctx context.Context, owner string, q recall.SearchQuery) (recall.SearchPage, error) {
	return s.idx.Search(ctx, owner, q)
}

func (s storing) Ping(ctx context.Context) error { return s.idx.Ping(ctx) }

type rig struct {
	idx    *hybrid.Index
	store  *memStore
	embeds *bedrocktest.EmbedServer
	vecs   *s3vectest.Server
	usage  []hybrid.Usage
	mu     sync.Mutex
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	r := &rig{store: &memStore{}, embeds: bedrocktest.NewEmbedServer(t, ""), vecs: s3vectest.NewServer(t, bedrock.DefaultEmbedDimensions)}
	bc, err := bedrock.NewClient(ctx, r.embeds.Region(), bedrock.WithBaseEndpoint(r.embeds.URL), bedrock.WithCredentials(r.embeds.Credentials()))
	if err != nil {
		t.Fatal(err)
	}
	vc, err := s3vec.NewClient(ctx, s3vectest.Region, s3vec.ClientOptions{BaseEndpoint: r.vecs.URL, Credentials: r.vecs.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	r.idx = hybrid.New(bedrock.NewEmbedder(bc, bedrock.EmbedderOptions{}), s3vec.New(vc, s3vectest.Bucket, s3vectest.IndexName),
		&memKeywords{}, r.store, hybrid.Options{Usage: func(u hybrid.Usage) {
			r.mu.Lock()
			r.usage = append(r.usage, u)
			r.mu.Unlock()
		}})
	return r
}

// done marks c analysed, as the worker leaves it.
func done(c *recall.Conversation) *recall.Conversation {
	c.Status = recall.StatusDone
	if c.Summary == "" {
		c.Summary = c.Title
	}
	return c
}

func TestIndex(t *testing.T) {
	searchtest.Exercise(t, func(t *testing.T) recall.Index {
		r := newRig(t)
		return storing{idx: r.idx, store: r.store}
	})
}

func TestRelevance(t *testing.T) {
	r := newRig(t)
	m := searchtest.Evaluate(t, storing{idx: r.idx, store: r.store})
	m.Log(t, "hybrid (fake embedding)")
	// The fake embedding is a hashed bag of words with a few concepts, not
	// a language model: this floor guards the combination, not Titan.
	if m.MRR10 < 0.8 {
		t.Errorf("MRR@10 %.3f below 0.8", m.MRR10)
	}
}

func TestSemanticFindsWhatKeywordsCannot(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	s := storing{idx: r.idx, store: r.store}
	outage := done(searchtest.Conv("alice", "Saturday maintenance", "The billing database was unavailable for forty minutes while we switched primaries."))
	other := done(searchtest.Conv("alice", "Coffee", "The coffee machine on the third floor is broken again."))
	for _, c := range []*recall.Conversation{outage, other} {
		if err := s.Index(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.Search(ctx, "alice", recall.SearchQuery{Text: "downtime"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Hits) != 1 || page.Hits[0].ID != outage.ID {
		t.Fatalf("downtime found %+v; want the outage, which never says the word", page.Hits)
	}
}

func TestEmbeddingCalls(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	s := storing{idx: r.idx, store: r.store}
	c := searchtest.Conv("alice", "Vendor call", "Priya called Umbrella about the contract renewal.")
	if err := s.Index(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := len(r.embeds.Inputs()); n != 0 {
		t.Fatalf("%d embedding calls for a conversation not yet analysed, want 0", n)
	}
	// Found by keyword before its analysis.
	if page, _ := s.Search(ctx, "alice", recall.SearchQuery{Text: "umbrella"}); len(page.Hits) != 1 {
		t.Fatalf("umbrella: %+v", page.Hits)
	}
	tokens, err := r.idx.IndexConversation(ctx, done(c))
	if err != nil {
		t.Fatal(err)
	}
	in := r.embeds.Inputs()
	if len(in) != 2 || !strings.Contains(in[1], "contract renewal") || tokens != bedrocktest.EstimateTokens(len(in[1])) {
		t.Fatalf("inputs %q, tokens %d: want one call for the analysed conversation, its tokens returned", in, tokens)
	}
	// The same query again, and its second page, cost no call.
	for range 3 {
		if _, err := s.Search(ctx, "alice", recall.SearchQuery{Text: "  Umbrella "}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(r.embeds.Inputs()); n != 2 {
		t.Fatalf("%d embedding calls after repeating a query, want 2 (one per distinct query text)", n)
	}
	var sum int
	for _, u := range r.usage {
		sum += u.Tokens
	}
	if int64(sum) != r.idx.Tokens() || len(r.usage) != 2 || r.usage[1].ConversationID != c.ID {
		t.Fatalf("usage %+v, total %d: every call reported once", r.usage, r.idx.Tokens())
	}
	// Deleting removes the vector.
	if err := s.Delete(ctx, "alice", c.ID); err != nil {
		t.Fatal(err)
	}
	if keys := r.vecs.Keys(); len(keys) != 0 {
		t.Fatalf("vectors left after delete: %v", keys)
	}
}

func TestErrorsPassThrough(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.embeds.Fail("ThrottlingException")
	err := r.idx.Index(ctx, done(searchtest.Conv("alice", "x", "y z")))
	if recall.ErrorCode(err) != recall.ETHROTTLED || recall.RetryAfter(err) == 0 {
		t.Fatalf("Index with Bedrock throttling: %v, want %s with a RetryAfter", err, recall.ETHROTTLED)
	}
	r.vecs.Fail("AccessDeniedException")
	_, err = r.idx.Search(ctx, "alice", recall.SearchQuery{Text: "anything"})
	if recall.ErrorCode(err) != recall.EPERMISSION {
		t.Fatalf("Search with S3 Vectors refusing: %v, want %s", err, recall.EPERMISSION)
	}
}

func TestDeleteByAnotherOwnerKeepsTheVector(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	c := done(searchtest.Conv("alice", "Merger", "The merger closes in May."))
	if err := r.idx.Index(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := r.idx.Delete(ctx, "bob", c.ID); err != nil {
		t.Fatal(err)
	}
	if keys := r.vecs.Keys(); len(keys) != 1 {
		t.Fatalf("bob's delete of alice's conversation removed her vector: %v", keys)
	}
	if err := r.idx.Delete(ctx, "alice", c.ID); err != nil {
		t.Fatal(err)
	}
	if keys := r.vecs.Keys(); len(keys) != 0 {
		t.Fatalf("alice's delete left %v", keys)
	}
}
