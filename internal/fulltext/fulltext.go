// Package fulltext is Recall's embedded search index: a bleve v2 full-text
// index in a directory beside the embedded store, so the default
// installation finds past conversations with nothing else to run.
//
// Why a library and not an inverted index of our own: bleve gives, tested
// and maintained, what a good search box needs and what would take
// thousands of lines to write and get right here — English analysis with
// stemming and stop words, BM25 scoring, phrase queries over positions,
// prefix queries over a term dictionary (an FST), segment files merged in
// the background and snapshots that survive a crash. It costs a long list
// of modules (the zap segment formats, roaring bitmaps, vellum), all pure Go.
//
// Each conversation is one document whose ID is owner and conversation ID
// together, so owners can never share a document, and every query carries
// the owner as a required term: isolation is in the query, not a filter
// over a page. Title, content, summary, action items and keywords are
// stemmed ("en": possessives, lower case, stop words, Porter), stored (for
// highlights) and kept with positions (for phrases); a "plain" field holds
// the same text lower-cased but not stemmed, for prefix* queries, which a
// stemmed dictionary answers badly (planning is stored as "plan", so
// "plann*" would miss it).
//
// Writes return once the change is searchable, not once it is on disk (the
// index persists in the background, batching many writes into one sync).
// A watermark — the latest UpdatedAt indexed — is written in the same batch
// as each change, so what survives a crash is consistent with it; on start
// a caller runs CatchUp against the store to index whatever changed after
// it (see watermark.go).
package fulltext

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"

	"recall/internal/recall"
)

// schema names the document layout and analysis. Opening an index written
// with another schema moves it aside and starts empty, so CatchUp rebuilds
// it from the store: changing a field or analyzer needs no migration step.
const schema = "recall-fulltext-1"

// Internal (non-document) keys in the index.
var (
	keySchema    = []byte("recall.schema")
	keyWatermark = []byte("recall.watermark")
)

// Field names and the boost each gets in a word's score: a word in the
// title or the summary says more about what a conversation is about than
// the same word somewhere in a long transcript.
const (
	fieldOwner    = "owner"
	fieldTitle    = "title"
	fieldContent  = "content"
	fieldSummary  = "summary"
	fieldActions  = "actions"
	fieldKeywords = "keywords"
	fieldPlain    = "plain"

	analyzerPlain = "recall_plain"
)

// textFields are the stemmed, stored fields with their boosts.
var textFields = []struct {
	name  string
	boost float64
}{
	{fieldTitle, 3},
	{fieldSummary, 2},
	{fieldKeywords, 2},
	{fieldActions, 1.5},
	{fieldContent, 1},
}

// Options configures Open. The zero value works.
type Options struct {
	// Logger receives what the index does on its own (moving an
	// incompatible index aside). Nil discards.
	Logger *slog.Logger
	// Margin is how far before the watermark CatchUp looks again, for
	// conversations written to the store just before a later one was
	// indexed (DefaultMargin).
	Margin time.Duration
}

// DefaultMargin covers a conversation stored, then indexed after a later
// one: the gap is a request's lifetime, well under a minute.
const DefaultMargin = time.Minute

// Index is the embedded full-text index. It implements recall.Index and is
// safe for concurrent use.
type Index struct {
	path   string
	log    *slog.Logger
	margin time.Duration

	// mu guards idx against Rebuild swapping it; every use holds it for
	// reading.
	mu  sync.RWMutex
	idx bleve.Index

	stem, plain analysis.Analyzer

	markMu sync.Mutex
	mark   Watermark
}

var _ recall.Index = (*Index)(nil)

// Open opens the index in directory path, creating it if it does not exist.
// An index of another schema is moved aside (path + ".old-<time>") and a
// new, empty one created; its zero watermark makes CatchUp index everything.
// Only one process may have an index open; another gets an error within a
// second instead of waiting.
func Open(path string, opts Options) (*Index, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Margin <= 0 {
		opts.Margin = DefaultMargin
	}
	x := &Index{path: path, log: opts.Logger, margin: opts.Margin}
	idx, err := openOrCreate(path, x.log)
	if err != nil {
		return nil, err
	}
	if err := x.adopt(idx); err != nil {
		_ = idx.Close()
		return nil, err
	}
	return x, nil
}

func runtimeConfig() map[string]any {
	return map[string]any{
		// Batch returns when the change is searchable; the persister syncs
		// in the background. The watermark makes that safe (see package doc).
		"unsafe_batch": true,
		"bolt_timeout": "1s",
	}
}

func openOrCreate(path string, log *slog.Logger) (bleve.Index, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return create(path)
	}
	idx, err := bleve.OpenUsing(path, runtimeConfig())
	if err != nil {
		return nil, fmt.Errorf("fulltext: open %s: %w", path, err)
	}
	got, err := idx.GetInternal(keySchema)
	if err == nil && string(got) == schema {
		return idx, nil
	}
	_ = idx.Close()
	aside := fmt.Sprintf("%s.old-%d", path, time.Now().Unix())
	log.Warn("search index has another schema; moving it aside and rebuilding", "path", path, "schema", string(got), "want", schema, "moved_to", aside)
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("fulltext: move old index aside: %w", err)
	}
	return create(path)
}

func create(path string) (bleve.Index, error) {
	m, err := newMapping()
	if err != nil {
		return nil, err
	}
	idx, err := bleve.NewUsing(path, m, scorch.Name, scorch.Name, runtimeConfig())
	if err != nil {
		return nil, fmt.Errorf("fulltext: create %s: %w", path, err)
	}
	if err := idx.SetInternal(keySchema, []byte(schema)); err != nil {
		_ = idx.Close()
		return nil, fmt.Errorf("fulltext: create %s: %w", path, err)
	}
	return idx, nil
}

// newMapping is the index mapping: BM25, and no dynamic fields (documents
// are built field by field in document()).
func newMapping() (*mapping.IndexMappingImpl, error) {
	m := bleve.NewIndexMapping()
	m.ScoringModel = index.BM25Scoring
	m.DefaultAnalyzer = en.AnalyzerName
	m.DefaultMapping = bleve.NewDocumentStaticMapping()
	m.StoreDynamic, m.IndexDynamic, m.DocValuesDynamic = false, false, false
	if err := m.AddCustomAnalyzer(analyzerPlain, map[string]any{
		"type":          custom.Name,
		"tokenizer":     unicode.Name,
		"token_filters": []any{lowercase.Name},
	}); err != nil {
		return nil, fmt.Errorf("fulltext: plain analyzer: %w", err)
	}
	return m, nil
}

// adopt makes idx the live index, reading its analyzers and watermark.
func (x *Index) adopt(idx bleve.Index) error {
	stem := idx.Mapping().AnalyzerNamed(en.AnalyzerName)
	plain := idx.Mapping().AnalyzerNamed(analyzerPlain)
	if stem == nil || plain == nil {
		return fmt.Errorf("fulltext: analyzers %q and %q not available", en.AnalyzerName, analyzerPlain)
	}
	raw, err := idx.GetInternal(keyWatermark)
	if err != nil {
		return fmt.Errorf("fulltext: read watermark: %w", err)
	}
	mark, err := decodeWatermark(raw)
	if err != nil {
		return fmt.Errorf("fulltext: %w", err)
	}
	x.idx, x.stem, x.plain = idx, stem, plain
	x.markMu.Lock()
	x.mark = mark
	x.markMu.Unlock()
	return nil
}

// Close flushes and closes the index.
func (x *Index) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.idx == nil {
		return nil
	}
	err := x.idx.Close()
	x.idx = nil
	if err != nil {
		return fmt.Errorf("fulltext: close: %w", err)
	}
	return nil
}

// docID is the document ID of conversation id of owner. The separator
// cannot appear in an ID made by recall.NewID.
func docID(owner, id string) string { return owner + "\x1f" + id }

// convID is the conversation ID in a document ID.
func convID(doc string) string { return doc[strings.LastIndexByte(doc, 0x1f)+1:] }

// document builds the bleve document of c.
func (x *Index) document(c *recall.Conversation) *document.Document {
	d := document.NewDocument(docID(c.Owner, c.ID))
	const stored = index.IndexField | index.StoreField | index.IncludeTermVectors
	text := func(name, value string, pos []uint64) {
		if value != "" {
			d.AddField(document.NewTextFieldCustom(name, pos, []byte(value), stored, x.stem))
		}
	}
	d.AddField(document.NewTextFieldCustom(fieldOwner, nil, []byte(c.Owner), index.IndexField, nil))
	text(fieldTitle, c.Title, nil)
	text(fieldContent, c.Content, nil)
	text(fieldSummary, c.Summary, nil)
	for i, a := range c.ActionItems {
		text(fieldActions, a, []uint64{uint64(i)})
	}
	for i, k := range c.Keywords {
		text(fieldKeywords, k, []uint64{uint64(i)})
	}
	plain := strings.Join(append([]string{c.Title, c.Content, c.Summary}, append(c.ActionItems, c.Keywords...)...), "\n")
	d.AddField(document.NewTextFieldCustom(fieldPlain, nil, []byte(plain), index.IndexField, x.plain))
	return d
}

// Index implements recall.Index. The change is searchable when it returns.
func (x *Index) Index(ctx context.Context, c *recall.Conversation) error {
	return x.indexBatch(ctx, []*recall.Conversation{c})
}

// indexBatch indexes cs in one bleve batch that also records the advanced
// watermark.
func (x *Index) indexBatch(ctx context.Context, cs []*recall.Conversation) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fulltext: index: %w", err)
	}
	if len(cs) == 0 {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.idx == nil {
		return recall.Errorf(recall.EUNAVAILABLE, "the search index is closed")
	}
	b := x.idx.NewBatch()
	next := x.Watermark()
	for _, c := range cs {
		if err := b.IndexAdvanced(x.document(c)); err != nil {
			return fmt.Errorf("fulltext: index %s: %w", c.ID, err)
		}
		next = next.Max(markOf(c))
	}
	b.SetInternal(keyWatermark, next.encode())
	if err := x.idx.Batch(b); err != nil {
		return recall.Wrap(fmt.Errorf("fulltext: index %d conversation(s): %w", len(cs), err), recall.EUNAVAILABLE, "the search index could not be written")
	}
	x.advance(next)
	return nil
}

// Delete implements recall.Index.
func (x *Index) Delete(ctx context.Context, owner, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fulltext: delete %s: %w", id, err)
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.idx == nil {
		return recall.Errorf(recall.EUNAVAILABLE, "the search index is closed")
	}
	if err := x.idx.Delete(docID(owner, id)); err != nil {
		return recall.Wrap(fmt.Errorf("fulltext: delete %s: %w", id, err), recall.EUNAVAILABLE, "the search index could not be written")
	}
	return nil
}

// Ping implements recall.Index: the index is open and answers a count.
func (x *Index) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.idx == nil {
		return recall.Errorf(recall.EUNAVAILABLE, "the search index is closed")
	}
	if _, err := x.idx.DocCount(); err != nil {
		return recall.Wrap(fmt.Errorf("fulltext: ping: %w", err), recall.EUNAVAILABLE, "the search index does not answer")
	}
	return nil
}

// Count is how many conversations the index holds, for `recall doctor`.
func (x *Index) Count() (uint64, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.idx == nil {
		return 0, recall.Errorf(recall.EUNAVAILABLE, "the search index is closed")
	}
	n, err := x.idx.DocCount()
	if err != nil {
		return 0, fmt.Errorf("fulltext: count: %w", err)
	}
	return n, nil
}
