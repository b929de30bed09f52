package fulltext

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"

	"recall/internal/recall"
)

// A search runs in up to two tiers, so "all words should match, best
// first" holds strictly: tier 1 is the conversations matching every word
// (and every phrase and prefix, and no excluded term); tier 2 is those
// matching some but not all of the words, the nearest misses a paraphrase
// needs, since it rarely repeats every word of the text it means.
//
// Tier 2 is asked only when tier 1 found fewer than tier2Below
// conversations (a query that finds plenty with every word needs no near
// misses), and only with the query's uncommon words: a word in more than
// commonShare of all conversations (and more than commonMin) tells no near miss from any other, and
// BM25 scores every conversation a clause matches, so a common word there
// would cost a scan of most of the index for nothing.
const (
	tierAll  = 1
	tierSome = 2

	tier2Below  = 50
	commonShare = 0.1
	commonMin   = 2000 // below this many conversations no word is common
)

// plan is a parsed query turned into bleve queries and highlight matchers.
type plan struct {
	all   query.Query   // tier 1
	must  []query.Query // owner, phrases, prefixes
	words []wordClause
	not   []query.Query
	match matcher
}

// wordClause is one query word: its query and its stemmed terms.
type wordClause struct {
	q     query.Query
	terms []string
}

// matcher finds what to mark in a text: stemmed words, stemmed phrases
// (as term sequences with position gaps), and unstemmed prefixes.
type matcher struct {
	terms    map[string]bool
	phrases  [][]posTerm
	prefixes []string
}

type posTerm struct {
	rel  int // position relative to the phrase's first term
	term string
}

// stemmed analyses s with the stemming analyzer into a phrase: its terms
// with their positions relative to the first.
func stemmed(a analysis.Analyzer, s string) []posTerm {
	toks := a.Analyze([]byte(s))
	if len(toks) == 0 {
		return nil
	}
	first := toks[0].Position
	out := make([]posTerm, len(toks))
	for i, t := range toks {
		out[i] = posTerm{rel: t.Position - first, term: string(t.Term)}
	}
	return out
}

// fieldsClause is a query matching phrase p (one term or several) in any
// searched field, each with its boost.
func fieldsClause(p []posTerm) query.Query {
	var ors []query.Query
	for _, f := range textFields {
		var q interface{ SetBoost(float64) }
		if len(p) == 1 {
			tq := bleve.NewTermQuery(p[0].term)
			tq.SetField(f.name)
			q = tq
		} else {
			slots := make([][]string, p[len(p)-1].rel+1)
			for _, t := range p {
				slots[t.rel] = append(slots[t.rel], t.term)
			}
			mq := query.NewMultiPhraseQuery(slots, f.name)
			q = mq
		}
		q.SetBoost(f.boost)
		ors = append(ors, q.(query.Query))
	}
	return bleve.NewDisjunctionQuery(ors...)
}

// compile turns a parsed query into the two tiers for owner. A word that
// analyses to nothing (a stop word such as "the") is dropped; a word that
// analyses to several terms ("INC-4821", "e-mail") is a phrase.
func (x *Index) compile(owner string, q recall.Query) (plan, error) {
	var p plan
	p.match.terms = map[string]bool{}
	ownerQ := bleve.NewTermQuery(owner)
	ownerQ.SetField(fieldOwner)
	ownerQ.SetBoost(0.0001) // required, not a relevance signal

	must := []query.Query{ownerQ}
	var words []query.Query
	for _, w := range q.Words {
		pt := stemmed(x.stem, w)
		if len(pt) == 0 {
			continue
		}
		wc := wordClause{q: fieldsClause(pt)}
		for _, t := range pt {
			wc.terms = append(wc.terms, t.term)
		}
		p.words = append(p.words, wc)
		words = append(words, wc.q)
		if len(pt) == 1 {
			p.match.terms[pt[0].term] = true
		} else {
			p.match.phrases = append(p.match.phrases, pt)
		}
	}
	for _, ph := range q.Phrases {
		pt := stemmed(x.stem, ph)
		if len(pt) == 0 {
			continue
		}
		must = append(must, fieldsClause(pt))
		p.match.phrases = append(p.match.phrases, pt)
	}
	for _, pre := range q.Prefixes {
		pre = strings.ToLower(pre)
		// A word whose stem is itself is found by its stem; any other by
		// the word as written, indexed beside the stem.
		var ors []query.Query
		for _, f := range textFields {
			for _, p := range []string{pre, asWritten + pre} {
				pq := bleve.NewPrefixQuery(p)
				pq.SetField(f.name)
				pq.SetBoost(f.boost)
				ors = append(ors, pq)
			}
		}
		must = append(must, bleve.NewDisjunctionQuery(ors...))
		p.match.prefixes = append(p.match.prefixes, pre)
	}
	if len(must) == 1 && len(words) == 0 {
		return p, recall.Errorf(recall.EINVALID, "q has only common words (like \"the\"); add a word to look for")
	}
	var not []query.Query
	for _, e := range q.Exclude {
		if pt := stemmed(x.stem, e); len(pt) > 0 {
			not = append(not, fieldsClause(pt))
		}
	}

	all := bleve.NewBooleanQuery()
	all.AddMust(append(slices.Clone(must), words...)...)
	if len(not) > 0 {
		all.AddMustNot(not...)
	}
	p.all, p.must, p.not = all, must, not
	return p, nil
}

// tier returns the query of tier n of p, or nil when the tier is not to be
// asked (see tier2Below and commonShare). all is every tier-1 hit when the
// search already holds them, else nil and tier 2 asks for them itself.
func (x *Index) tier(ctx context.Context, p plan, n int, stats *search.BM25Stats, all *bleve.SearchResult) (query.Query, error) {
	if n == tierAll {
		return p.all, nil
	}
	if len(p.words) < 2 {
		return nil, nil
	}
	first := all
	if first == nil {
		var err error
		if first, err = x.run(ctx, p.all, stats, tier2Below, 0, false); err != nil {
			return nil, err
		}
	}
	if first.Total >= tier2Below {
		return nil, nil
	}
	r, err := x.reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var rare []query.Query
	for _, w := range p.words {
		if df, err := x.docFreq(ctx, r, w.terms); err != nil {
			return nil, err
		} else if df <= commonMin || float64(df) <= commonShare*stats.DocCount {
			rare = append(rare, w.q)
		}
	}
	if len(rare) == 0 {
		return nil, nil
	}
	some := bleve.NewBooleanQuery()
	some.AddMust(p.must...)
	some.AddShould(rare...)
	some.SetMinShould(1)
	not := slices.Clone(p.not)
	if len(first.Hits) > 0 {
		ids := make([]string, len(first.Hits))
		for i, h := range first.Hits {
			ids[i] = h.ID
		}
		not = append(not, bleve.NewDocIDQuery(ids))
	}
	if len(not) > 0 {
		some.AddMustNot(not...)
	}
	return some, nil
}

// reader opens a reader on the index's current snapshot.
func (x *Index) reader() (index.IndexReader, error) {
	adv, err := x.idx.Advanced()
	if err == nil {
		var r index.IndexReader
		if r, err = adv.Reader(); err == nil {
			return r, nil
		}
	}
	return nil, recall.Wrap(fmt.Errorf("fulltext: reader: %w", err), recall.EUNAVAILABLE, "the search index failed")
}

// docFreq is about how many conversations hold the word with these terms:
// the largest count of its rarest term over the searched fields.
func (x *Index) docFreq(ctx context.Context, r index.IndexReader, terms []string) (uint64, error) {
	var rarest uint64 = math.MaxUint64
	for _, t := range terms {
		var most uint64
		for _, f := range textFields {
			tfr, err := r.TermFieldReader(ctx, []byte(t), f.name, false, false, false)
			if err != nil {
				return 0, recall.Wrap(fmt.Errorf("fulltext: term %q: %w", t, err), recall.EUNAVAILABLE, "the search index failed")
			}
			most = max(most, tfr.Count())
			_ = tfr.Close()
		}
		rarest = min(rarest, most)
	}
	return rarest, nil
}

// cursor is where a page ended: the tier, and how many of that tier's
// hits earlier pages returned. An offset, not bleve's search-after key: a
// score read back from a cursor need not equal the score the same document
// gets a moment later (background merges change the statistics BM25 reads
// in the last bits), and the last hit of a page would then show up again.
type cursor struct {
	Tier   int `json:"t"`
	Offset int `json:"o,omitempty"`
}

// maxOffset bounds how deep a search pages: past it, a person refines the
// query rather than reads on, and each page costs the hits before it.
const maxOffset = 1000

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	c := cursor{Tier: tierAll}
	if s == "" {
		return c, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(raw, &c) != nil || (c.Tier != tierAll && c.Tier != tierSome) || c.Offset < 0 || c.Offset > maxOffset {
		return c, recall.Errorf(recall.EINVALID, "cursor is not valid")
	}
	return c, nil
}

// storedFields are loaded for the hits of a page, for highlights.
var storedFields = []string{fieldTitle, fieldContent, fieldSummary, fieldActions}

// Search implements recall.Index. It first waits (up to ctx) until every
// change accepted before it began is written, so a conversation whose
// create has answered is found; a change whose write failed does not hold
// it up (the search answers from what the index has, as it would had the
// create's write failed outright), and ctx ending is EUNAVAILABLE.
func (x *Index) Search(ctx context.Context, owner string, sq recall.SearchQuery) (recall.SearchPage, error) {
	q, err := recall.ParseQuery(sq.Text)
	if err != nil {
		return recall.SearchPage{}, err
	}
	cur, err := decodeCursor(sq.After)
	if err != nil {
		return recall.SearchPage{}, err
	}
	limit := recall.NormalizeLimit(sq.Limit)
	// Read-your-writes: a create answers before its index write, so wait
	// for every change accepted before this search began (writer.go).
	if x.writer != nil {
		if err := x.Settle(ctx); err != nil {
			return recall.SearchPage{}, err
		}
	}

	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.idx == nil {
		return recall.SearchPage{}, recall.Errorf(recall.EUNAVAILABLE, "the search index is closed")
	}
	p, err := x.compile(owner, q)
	if err != nil {
		return recall.SearchPage{}, err
	}
	// One set of statistics for every request of this search.
	stats, err := x.scoringStats()
	if err != nil {
		return recall.SearchPage{}, recall.Wrap(fmt.Errorf("fulltext: search: %w", err), recall.EUNAVAILABLE, "the search index failed")
	}
	var page recall.SearchPage
	var all *bleve.SearchResult // every tier-1 hit, when one request returned them all
	for tier := cur.Tier; tier <= tierSome; tier++ {
		tq, err := x.tier(ctx, p, tier, stats, all)
		if err != nil {
			return recall.SearchPage{}, err
		}
		if tq == nil {
			break
		}
		want := limit - len(page.Hits)
		if want == 0 {
			// The page is full and this tier is untouched: say there is
			// more only if it has something.
			res, err := x.run(ctx, tq, stats, 1, 0, false)
			if err != nil {
				return recall.SearchPage{}, err
			}
			if len(res.Hits) > 0 {
				page.Next = cursor{Tier: tier}.encode()
			}
			break
		}
		from := 0
		if tier == cur.Tier {
			from = cur.Offset
		}
		res, err := x.run(ctx, tq, stats, want+1, from, true)
		if err != nil {
			return recall.SearchPage{}, err
		}
		if tier == tierAll && from == 0 && len(res.Hits) <= want {
			all = res
		}
		x.take(&page, p.match, res, tier, from, want)
		if page.Next != "" {
			break
		}
	}
	return page, nil
}

// take adds to page up to want of res's hits, the hits of tier from offset
// from on, and the cursor to the next when res holds one more.
func (x *Index) take(page *recall.SearchPage, m matcher, res *bleve.SearchResult, tier, from, want int) {
	for i, h := range res.Hits {
		if i == want {
			if from+want < maxOffset {
				page.Next = cursor{Tier: tier, Offset: from + want}.encode()
			}
			return
		}
		page.Hits = append(page.Hits, recall.SearchHit{
			ID:         convID(h.ID),
			Score:      squash(tier, h.Score),
			Highlights: m.highlights(x, h),
		})
	}
}

// run asks bleve for up to size hits of q by score, skipping the first
// from, scored with stats (scoringStats).
func (x *Index) run(ctx context.Context, q query.Query, stats *search.BM25Stats, size, from int, fields bool) (*bleve.SearchResult, error) {
	req := bleve.NewSearchRequestOptions(q, size, from, false)
	req.PreSearchData = map[string]any{search.BM25PreSearchDataKey: stats}
	// By score alone: a document-ID tie-break would load every match's
	// ID. Scores do not move between pages (scoringStats); only hits with
	// exactly equal scores keep the index's order, which a merge between
	// two pages can change.
	if fields {
		req.Fields = storedFields
		req.IncludeLocations = false
	}
	res, err := x.idx.SearchInContext(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fulltext: search: %w", ctx.Err())
		}
		return nil, recall.Wrap(fmt.Errorf("fulltext: search: %w", err), recall.EUNAVAILABLE, "the search index failed")
	}
	return res, nil
}

// squash maps a BM25 score into [0, 1] so that every tier-1 hit scores
// above every tier-2 hit: tier 1 in (0.5, 1), tier 2 in (0, 0.5).
func squash(tier int, s float64) float64 {
	v := 0.5 * s / (s + 1)
	if tier == tierAll {
		v += 0.5
	}
	return v
}

// highlights renders where m matched in the stored fields of hit h: the
// content first, then the summary, the action items and the title, up to
// recall.HighlightFragments passages. A passage already within one taken
// is left out: a summary or an action item is often a sentence of
// the content, and the same words three times tell a reader nothing.
func (m matcher) highlights(x *Index, h *search.DocumentMatch) []string {
	var out []string
	for _, f := range []string{fieldContent, fieldSummary, fieldActions, fieldTitle} {
		left := recall.HighlightFragments - len(out)
		if left == 0 {
			break
		}
		text := fieldText(h.Fields[f])
		if text == "" {
			continue
		}
		for _, frag := range recall.Highlight(text, m.spans(x, text), left, recall.HighlightSize) {
			key := strings.Trim(frag, " .,;:!?…")
			if !slices.ContainsFunc(out, func(o string) bool { return strings.Contains(o, key) }) {
				out = append(out, frag)
			}
		}
	}
	return out
}

// fieldText is a stored field's value as one text; action items are joined
// with "; ".
func fieldText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		parts := make([]string, 0, len(v))
		for _, p := range v {
			if s, ok := p.(string); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

// spans finds the byte ranges of text that m matches, analysing text the
// way the index did.
func (m matcher) spans(x *Index, text string) []recall.Span {
	var out []recall.Span
	toks := x.stem.Analyze([]byte(text))
	for i, t := range toks {
		if m.terms[string(t.Term)] {
			out = append(out, recall.Span{Start: t.Start, End: t.End})
		}
		for _, ph := range m.phrases {
			if end, ok := phraseAt(toks, i, ph); ok {
				out = append(out, recall.Span{Start: t.Start, End: end})
			}
		}
	}
	if len(m.prefixes) > 0 {
		for _, t := range x.plain.Analyze([]byte(text)) {
			for _, p := range m.prefixes {
				if strings.HasPrefix(string(t.Term), p) {
					out = append(out, recall.Span{Start: t.Start, End: t.End})
					break
				}
			}
		}
	}
	return out
}

// phraseAt reports whether phrase ph starts at toks[i], and where its last
// term ends.
func phraseAt(toks analysis.TokenStream, i int, ph []posTerm) (int, bool) {
	if string(toks[i].Term) != ph[0].term {
		return 0, false
	}
	base := toks[i].Position
	j, end := i, toks[i].End
	for _, want := range ph[1:] {
		for j < len(toks) && toks[j].Position < base+want.rel {
			j++
		}
		if j == len(toks) || toks[j].Position != base+want.rel || string(toks[j].Term) != want.term {
			return 0, false
		}
		end = toks[j].End
	}
	return end, true
}

// Typical field lengths, in indexed terms (stems plus the words as written
// beside them), that BM25 compares each conversation's length with.
// Bleve's own figure is the sum of every segment's distinct terms over the
// document count: it changes whenever background merges join segments, so
// the same search scored, ordered and paged differently a moment later (a
// page repeated one hit and lost another), and in a large merged index it
// falls towards one term, which punishes every long conversation. A fixed
// length depends on nothing but the document. The evaluation set averages
// 52 head terms and 84 content terms; content is set longer because meeting
// notes and transcripts in real use run longer than the set's.
var typicalLength = map[string]float64{
	fieldOwner:   1,
	fieldHead:    headLength,
	fieldContent: contentLength,
	fieldTitle:   headLength,
	fieldSummary: headLength,
	fieldActions: headLength,
}

const (
	headLength    = 48
	contentLength = 256
)

// scoringStats are the statistics BM25 reads for every search: the
// document count as it is, and each field's typical length (above).
func (x *Index) scoringStats() (*search.BM25Stats, error) {
	n, err := x.idx.DocCount()
	if err != nil {
		return nil, err
	}
	st := &search.BM25Stats{DocCount: float64(n), FieldCardinality: make(map[string]int, len(typicalLength))}
	for f, l := range typicalLength {
		st.FieldCardinality[f] = int(math.Round(l * float64(n)))
	}
	return st, nil
}
