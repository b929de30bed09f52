// Package hybrid is Recall's search on AWS: semantic search (an embedding
// of each analysed conversation, nearest neighbours of the query's
// embedding) combined with exact keyword matches, so a paraphrase finds
// what it means and a name or an ID is still found.
//
// It imports only the domain and defines the three small interfaces it
// consumes, satisfied in deployment by bedrock.Embedder (Amazon Titan Text
// Embeddings V2), s3vec.Store (Amazon S3 Vectors) and a keyword index kept
// in DynamoDB (see Keywords for its access pattern).
//
// One vector per conversation, not per chunk: a conversation is embedded
// once its analysis is done, as its title, summary, keywords and action
// items followed by its content, cut to what the model reads. The summary
// carries the gist of even a long transcript into the vector, details deep
// in it are found by keyword, and it keeps the cost at one embedding call
// per processed conversation, one vector key to delete, and one hit per
// conversation in a query's top K (chunks of one long conversation would
// crowd out others).
//
// Query semantics match the embedded index's as far as meaning allows:
// conversations containing every word come first (by similarity), then
// the nearest others; "phrases" and prefix* must match, -excluded words
// must not; the query's embedding is computed once and cached.
package hybrid

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"recall/internal/recall"
)

// Embedder turns text into a unit-length vector and says how many input
// tokens that cost.
type Embedder interface {
	Embed(ctx context.Context, text string) (vector []float32, tokens int, err error)
}

// Vectors stores one vector per key with its owner, and finds an owner's
// nearest vectors (key → cosine similarity), the owner filter being part of
// the query.
type Vectors interface {
	Put(ctx context.Context, key, owner string, v []float32) error
	Delete(ctx context.Context, keys ...string) error
	Query(ctx context.Context, owner string, v []float32, topK int) (map[string]float64, error)
	Ping(ctx context.Context) error
}

// Keywords is an index from (owner, term) to conversation IDs. Terms are
// what Terms returns.
//
// On DynamoDB, without a Scan (for part of the store to implement): one
// item per (owner, term, conversation), PK "KW#<owner>", SK "<term>#<id>";
// Match is a Query on the PK with begins_with(SK, "<term>#"), or
// begins_with(SK, "<prefix>") for a prefix, projecting the SK. Set writes a
// manifest item (SK "DOC#<id>", the term list) and the term items with
// BatchWriteItem, deleting the terms the previous manifest had and the new
// one lacks; Remove deletes the manifest's items. About 150 terms for a
// typical conversation cost 150 write units (under $0.0002 on demand).
type Keywords interface {
	// Set replaces the terms indexed for conversation id of owner.
	Set(ctx context.Context, owner, id string, terms []string) error
	// Remove forgets conversation id of owner; forgetting one never
	// indexed succeeds.
	Remove(ctx context.Context, owner, id string) error
	// Match returns up to limit IDs of owner's conversations holding term,
	// or, with prefix, a term starting with it.
	Match(ctx context.Context, owner, term string, prefix bool, limit int) ([]string, error)
}

// Loader reads a conversation: the store. Search reads candidates to check
// "phrases" and to cut highlights from.
type Loader interface {
	Get(ctx context.Context, owner, id string) (*recall.Conversation, error)
}

// Options tunes an Index; the zero value works.
type Options struct {
	// MinSimilarity is the cosine similarity below which a neighbour is
	// not a result (DefaultMinSimilarity): a vector index always returns
	// its top K, related or not.
	MinSimilarity float64
	// CacheSize is how many query embeddings are kept (DefaultCacheSize);
	// a repeated query, or the next page of one, costs no call.
	CacheSize int
	// Usage, if set, is told of every embedding call made, for the usage
	// totals.
	Usage func(Usage)
}

// Usage is one embedding call's cost.
type Usage struct {
	Owner string
	// ConversationID is the conversation embedded; "" for a query.
	ConversationID string
	Tokens         int
}

// Defaults for Options.
const (
	DefaultMinSimilarity = 0.3
	DefaultCacheSize     = 256
	// candidates is how many neighbours a search asks for and the most
	// results a search pages through.
	candidates = 100
	// keywordLimit is the most conversations one keyword contributes.
	keywordLimit = 200
	// loadWorkers bounds concurrent loads of candidates.
	loadWorkers = 8
)

// Index is the AWS search index. It implements recall.Index.
type Index struct {
	embed    Embedder
	vectors  Vectors
	keywords Keywords
	load     Loader
	opts     Options
	cache    *lru
	tokens   atomic.Int64
}

var _ recall.Index = (*Index)(nil)

// New returns an Index over the given parts.
func New(e Embedder, v Vectors, k Keywords, l Loader, o Options) *Index {
	if o.MinSimilarity == 0 {
		o.MinSimilarity = DefaultMinSimilarity
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	return &Index{embed: e, vectors: v, keywords: k, load: l, opts: o, cache: newLRU(o.CacheSize)}
}

// Tokens is the total of embedding input tokens this Index has spent.
func (x *Index) Tokens() int64 { return x.tokens.Load() }

// key is the vector key of conversation id of owner. The owner's digest
// in it keeps a Delete by another owner from reaching the vector.
func key(owner, id string) string {
	sum := sha256.Sum256([]byte(owner))
	return hex.EncodeToString(sum[:8]) + ":" + id
}

func idOf(k string) string { return k[strings.IndexByte(k, ':')+1:] }

// EmbedText is what a conversation's vector is made from.
func EmbedText(c *recall.Conversation) string {
	var b strings.Builder
	b.WriteString(c.Title)
	if c.Summary != "" {
		b.WriteString("\n" + c.Summary)
	}
	if len(c.Keywords) > 0 {
		b.WriteString("\nKeywords: " + strings.Join(c.Keywords, ", "))
	}
	if len(c.ActionItems) > 0 {
		b.WriteString("\nAction items: " + strings.Join(c.ActionItems, "; "))
	}
	b.WriteString("\n\n" + c.Content)
	return b.String()
}

// Index implements recall.Index: the keyword terms always (so a new
// conversation is found by its words at once), the vector once the
// analysis is done (one embedding call).
func (x *Index) Index(ctx context.Context, c *recall.Conversation) error {
	_, err := x.IndexConversation(ctx, c)
	return err
}

// IndexConversation is Index, returning the embedding tokens spent (0 when
// the conversation is not analysed yet).
func (x *Index) IndexConversation(ctx context.Context, c *recall.Conversation) (int, error) {
	if err := x.keywords.Set(ctx, c.Owner, c.ID, Terms(c)); err != nil {
		return 0, fmt.Errorf("hybrid: index %s: keywords: %w", c.ID, err)
	}
	if c.Status != recall.StatusDone {
		return 0, nil
	}
	vec, tokens, err := x.embed.Embed(ctx, EmbedText(c))
	if err != nil {
		return 0, fmt.Errorf("hybrid: index %s: %w", c.ID, err)
	}
	x.spent(Usage{Owner: c.Owner, ConversationID: c.ID, Tokens: tokens})
	if err := x.vectors.Put(ctx, key(c.Owner, c.ID), c.Owner, vec); err != nil {
		return tokens, fmt.Errorf("hybrid: index %s: %w", c.ID, err)
	}
	return tokens, nil
}

func (x *Index) spent(u Usage) {
	x.tokens.Add(int64(u.Tokens))
	if x.opts.Usage != nil {
		x.opts.Usage(u)
	}
}

// Delete implements recall.Index.
func (x *Index) Delete(ctx context.Context, owner, id string) error {
	if err := x.vectors.Delete(ctx, key(owner, id)); err != nil {
		return fmt.Errorf("hybrid: delete %s: %w", id, err)
	}
	if err := x.keywords.Remove(ctx, owner, id); err != nil {
		return fmt.Errorf("hybrid: delete %s: keywords: %w", id, err)
	}
	return nil
}

// Ping implements recall.Index.
func (x *Index) Ping(ctx context.Context) error { return x.vectors.Ping(ctx) }

// queryPlan is a parsed query in stems.
type queryPlan struct {
	words    []string   // stems that should all match
	phrases  [][]string // stem sequences that must match
	prefixes []string   // lower-case prefixes that must match
	notWords []string   // stems that must not match
	notPhr   [][]string // stem sequences that must not match
}

func plan(q recall.Query) queryPlan {
	var p queryPlan
	for _, w := range q.Words {
		for _, s := range stems(w) { // "INC-4821" is two terms
			p.words = append(p.words, s)
		}
	}
	for _, ph := range q.Phrases {
		if s := stems(ph); len(s) > 0 {
			p.phrases = append(p.phrases, s)
		}
	}
	for _, pre := range q.Prefixes {
		p.prefixes = append(p.prefixes, strings.ToLower(pre))
	}
	for _, e := range q.Exclude {
		switch s := stems(e); len(s) {
		case 0:
		case 1:
			p.notWords = append(p.notWords, s[0])
		default:
			p.notPhr = append(p.notPhr, s)
		}
	}
	return p
}

// cursor is how many ranked results earlier pages returned.
type cursor struct {
	Offset int `json:"o"`
}

type candidate struct {
	id      string
	sim     float64
	matched int // words matched by keyword
	score   float64
	conv    *recall.Conversation
}

// Search implements recall.Index.
func (x *Index) Search(ctx context.Context, owner string, sq recall.SearchQuery) (recall.SearchPage, error) {
	q, err := recall.ParseQuery(sq.Text)
	if err != nil {
		return recall.SearchPage{}, err
	}
	var cur cursor
	if sq.After != "" {
		raw, err := base64.RawURLEncoding.DecodeString(sq.After)
		if err != nil || json.Unmarshal(raw, &cur) != nil || cur.Offset < 1 || cur.Offset >= candidates {
			return recall.SearchPage{}, recall.Errorf(recall.EINVALID, "cursor is not valid")
		}
	}
	limit := recall.NormalizeLimit(sq.Limit)
	p := plan(q)
	if len(p.words)+len(p.phrases)+len(p.prefixes) == 0 {
		return recall.SearchPage{}, recall.Errorf(recall.EINVALID, "q has only common words (like \"the\"); add a word to look for")
	}

	ranked, err := x.rank(ctx, owner, q, p)
	if err != nil {
		return recall.SearchPage{}, err
	}
	var page recall.SearchPage
	end := min(cur.Offset+limit, len(ranked))
	if cur.Offset < end {
		hits := ranked[cur.Offset:end]
		if err := x.loadAll(ctx, owner, hits); err != nil {
			return recall.SearchPage{}, err
		}
		for _, c := range hits {
			if c.conv == nil {
				continue // deleted since it was indexed
			}
			page.Hits = append(page.Hits, recall.SearchHit{ID: c.id, Score: c.score, Highlights: highlights(c.conv, p)})
		}
	}
	if end < len(ranked) {
		raw, _ := json.Marshal(cursor{Offset: end})
		page.Next = base64.RawURLEncoding.EncodeToString(raw)
	}
	return page, nil
}

// rank finds and orders every result of the query (at most candidates).
// Candidates are gathered by meaning and by word, narrowed to those
// holding every required part, scored, and, when the query has phrases,
// checked against their text, which the keyword index cannot do.
func (x *Index) rank(ctx context.Context, owner string, q recall.Query, p queryPlan) ([]*candidate, error) {
	pool := pool{}
	if err := x.addNeighbours(ctx, owner, q, pool); err != nil {
		return nil, err
	}
	if err := x.addWordMatches(ctx, owner, p, pool); err != nil {
		return nil, err
	}
	if err := x.requirePrefixes(ctx, owner, p, pool); err != nil {
		return nil, err
	}
	if err := x.requirePhraseWords(ctx, owner, p, pool); err != nil {
		return nil, err
	}
	if err := x.excludeWords(ctx, owner, p, pool); err != nil {
		return nil, err
	}
	all := scored(pool, len(p.words))
	if len(p.phrases) > 0 || len(p.notPhr) > 0 {
		var err error
		if all, err = x.checkPhrases(ctx, owner, all, p); err != nil {
			return nil, err
		}
	}
	if len(all) > candidates {
		all = all[:candidates]
	}
	return all, nil
}

// pool is the candidates of one search by ID, while rank gathers and
// narrows them.
type pool map[string]*candidate

// add returns id's candidate, making it one if it is not yet.
func (p pool) add(id string) *candidate {
	c := p[id]
	if c == nil {
		c = &candidate{id: id}
		p[id] = c
	}
	return c
}

// seed makes every id a candidate: with nothing else to gather them by,
// the first required part's matches are the results, not only whichever
// of them happen to be neighbours.
func (p pool) seed(ids map[string]bool) {
	for id := range ids {
		p.add(id)
	}
}

// keep drops every candidate not in ids.
func (p pool) keep(ids map[string]bool) {
	for id := range p {
		if !ids[id] {
			delete(p, id)
		}
	}
}

// addNeighbours makes candidates of the owner's conversations nearest the
// query's meaning, with their similarity; those under MinSimilarity are
// left out, since a vector index returns its top K, related or not.
func (x *Index) addNeighbours(ctx context.Context, owner string, q recall.Query, pool pool) error {
	vec, err := x.queryVector(ctx, owner, q.Positive())
	if err != nil {
		return err
	}
	near, err := x.vectors.Query(ctx, owner, vec, candidates)
	if err != nil {
		return fmt.Errorf("hybrid: search: %w", err)
	}
	for k, sim := range near {
		if sim >= x.opts.MinSimilarity {
			pool.add(idOf(k)).sim = sim
		}
	}
	return nil
}

// addWordMatches makes a candidate of every conversation holding one of
// the query's words, counting the words each holds: a name or an ID is
// found even where the vectors see no likeness.
func (x *Index) addWordMatches(ctx context.Context, owner string, p queryPlan, pool pool) error {
	for _, w := range p.words {
		ids, err := x.match(ctx, owner, w, false)
		if err != nil {
			return err
		}
		for _, id := range ids {
			pool.add(id).matched++
		}
	}
	return nil
}

// requirePrefixes keeps the candidates holding, for each prefix, a term
// starting with it, stemmed or as written ("plann*" must find
// "planning", stored as "plan"). With no words, the first prefix seeds
// the pool.
func (x *Index) requirePrefixes(ctx context.Context, owner string, p queryPlan, pool pool) error {
	for i, pre := range p.prefixes {
		ids, err := x.holding(ctx, owner, true, pre, written+pre)
		if err != nil {
			return err
		}
		if i == 0 && len(p.words) == 0 {
			pool.seed(ids)
		}
		pool.keep(ids)
	}
	return nil
}

// requirePhraseWords keeps the candidates holding every word of every
// phrase; whether the words stand together is for checkPhrases to see in
// the text. With no words and no prefixes, the first phrase's first word
// seeds the pool.
func (x *Index) requirePhraseWords(ctx context.Context, owner string, p queryPlan, pool pool) error {
	for pi, ph := range p.phrases {
		for i, s := range ph {
			ids, err := x.holding(ctx, owner, false, s)
			if err != nil {
				return err
			}
			if pi == 0 && i == 0 && len(p.words) == 0 && len(p.prefixes) == 0 {
				pool.seed(ids)
			}
			pool.keep(ids)
		}
	}
	return nil
}

// excludeWords drops the candidates holding an excluded word.
func (x *Index) excludeWords(ctx context.Context, owner string, p queryPlan, pool pool) error {
	for _, w := range p.notWords {
		ids, err := x.match(ctx, owner, w, false)
		if err != nil {
			return err
		}
		for _, id := range ids {
			delete(pool, id)
		}
	}
	return nil
}

// match returns the owner's conversations holding term (or a term with
// that prefix), up to keywordLimit of them.
func (x *Index) match(ctx context.Context, owner, term string, prefix bool) ([]string, error) {
	ids, err := x.keywords.Match(ctx, owner, term, prefix, keywordLimit)
	if err != nil {
		return nil, fmt.Errorf("hybrid: search: keywords: %w", err)
	}
	return ids, nil
}

// holding returns, as a set, the owner's conversations holding any of
// terms, for narrowing the pool down to them.
func (x *Index) holding(ctx context.Context, owner string, prefix bool, terms ...string) (map[string]bool, error) {
	ids := map[string]bool{}
	for _, t := range terms {
		found, err := x.match(ctx, owner, t, prefix)
		if err != nil {
			return nil, err
		}
		for _, id := range found {
			ids[id] = true
		}
	}
	return ids, nil
}

// scored scores the candidates of a query with words words and orders
// them best first, newer first among equals. Similarity and the share of
// words matched weigh the same, and a candidate holding every word scores
// above every partial match, so what the user typed comes before what
// merely resembles it.
func scored(pool pool, words int) []*candidate {
	all := make([]*candidate, 0, len(pool))
	for _, c := range pool {
		frac := 1.0
		if words > 0 {
			frac = float64(c.matched) / float64(words)
		}
		s := 0.5*max(c.sim, 0) + 0.5*frac
		if c.matched == words { // every word: above every partial match
			c.score = 0.5 + 0.5*s
		} else {
			c.score = 0.5 * s
		}
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].score != all[j].score {
			return all[i].score > all[j].score
		}
		return all[i].id > all[j].id // newer first
	})
	return all
}

// checkPhrases keeps the ranked candidates whose text holds every phrase
// and no excluded one. It loads conversations to read them, so it looks
// at the best candidates only, as many as a search can return.
func (x *Index) checkPhrases(ctx context.Context, owner string, all []*candidate, p queryPlan) ([]*candidate, error) {
	if len(all) > candidates {
		all = all[:candidates]
	}
	if err := x.loadAll(ctx, owner, all); err != nil {
		return nil, err
	}
	kept := all[:0]
	for _, c := range all {
		if c.conv != nil && phrasesHold(c.conv, p) {
			kept = append(kept, c)
		}
	}
	return kept, nil
}

// phrasesHold reports whether c's texts hold every phrase of p and no
// excluded one. Each text is stemmed once, when a phrase first needs it.
func phrasesHold(c *recall.Conversation, p queryPlan) bool {
	texts := fields(c)
	stemmed := make([][]string, len(texts))
	holds := func(ph []string) bool {
		for i, text := range texts {
			if stemmed[i] == nil {
				stemmed[i] = stems(text)
			}
			if containsPhrase(stemmed[i], ph) {
				return true
			}
		}
		return false
	}
	for _, ph := range p.phrases {
		if !holds(ph) {
			return false
		}
	}
	for _, ph := range p.notPhr {
		if holds(ph) {
			return false
		}
	}
	return true
}

// queryVector embeds a query's text, once per distinct text while it stays
// in the cache.
func (x *Index) queryVector(ctx context.Context, owner, text string) ([]float32, error) {
	norm := strings.Join(strings.Fields(strings.ToLower(text)), " ")
	if v, ok := x.cache.get(norm); ok {
		return v, nil
	}
	v, tokens, err := x.embed.Embed(ctx, norm)
	if err != nil {
		return nil, fmt.Errorf("hybrid: embed query: %w", err)
	}
	x.spent(Usage{Owner: owner, Tokens: tokens})
	x.cache.put(norm, v)
	return v, nil
}

// loadAll reads the conversations of cs not read yet, a few at a time. A
// conversation gone from the store leaves conv nil.
func (x *Index) loadAll(ctx context.Context, owner string, cs []*candidate) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, loadWorkers)
	)
	for _, c := range cs {
		if c.conv != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			conv, err := x.load.Get(ctx, owner, c.id)
			if err != nil {
				if recall.ErrorCode(err) == recall.ENOTFOUND {
					return
				}
				mu.Lock()
				first = errors.Join(first, err)
				mu.Unlock()
				return
			}
			c.conv = conv
		}()
	}
	wg.Wait()
	if first != nil {
		return fmt.Errorf("hybrid: load results: %w", first)
	}
	return nil
}

// highlights marks the query's words, phrases and prefixes in c's content,
// then summary, action items and title.
func highlights(c *recall.Conversation, p queryPlan) []string {
	words := map[string]bool{}
	for _, w := range p.words {
		words[w] = true
	}
	var out []string
	for _, text := range []string{c.Content, c.Summary, strings.Join(c.ActionItems, "; "), c.Title} {
		left := recall.HighlightFragments - len(out)
		if left == 0 || text == "" {
			continue
		}
		toks := tokenize(text)
		var spans []recall.Span
		for i, t := range toks {
			if words[t.stem] {
				spans = append(spans, recall.Span{Start: t.start, End: t.end})
			}
			for _, pre := range p.prefixes {
				if strings.HasPrefix(t.lower, pre) {
					spans = append(spans, recall.Span{Start: t.start, End: t.end})
				}
			}
			for _, ph := range p.phrases {
				if i+len(ph) <= len(toks) {
					match := true
					for j, s := range ph {
						if toks[i+j].stem != s {
							match = false
							break
						}
					}
					if match {
						spans = append(spans, recall.Span{Start: t.start, End: toks[i+len(ph)-1].end})
					}
				}
			}
		}
		out = append(out, recall.Highlight(text, spans, left, recall.HighlightSize)...)
	}
	return out
}

// lru is a small least-recently-used cache of query embeddings.
type lru struct {
	mu    sync.Mutex
	size  int
	order *list.List // front: most recent; values are *lruEntry
	items map[string]*list.Element
}

type lruEntry struct {
	key string
	vec []float32
}

func newLRU(size int) *lru {
	return &lru{size: size, order: list.New(), items: map[string]*list.Element{}}
}

func (c *lru) get(k string) ([]float32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry).vec, true
}

func (c *lru) put(k string, v []float32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*lruEntry).vec = v
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry{key: k, vec: v})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruEntry).key)
	}
}
