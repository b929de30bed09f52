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
// analysed in English (possessives, lower case, stop words, Porter
// stemming), stored (for highlights) and kept with positions (for
// phrases). Where stemming changes a word, the word as written is indexed
// too, at the same position and marked so no query term can meet it, for
// prefix* queries: a stemmed dictionary alone answers those badly
// (planning is stored as "plan", so "plann*" would miss it). Marking in the
// same field costs one analysis pass; a second, unstemmed field cost
// reindexing half its speed.
//
// Writes return once the change is searchable, not once it is on disk (the
// index persists in the background, batching many writes into one sync).
// A watermark — the latest UpdatedAt indexed — is written in the same batch
// as each change, so what survives a crash is consistent with it; on start
// a caller runs CatchUp against the store to index whatever changed after
// it (see watermark.go).
package fulltext

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	stdunicode "unicode"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/character"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"
	bolterrors "go.etcd.io/bbolt/errors"

	"recall/internal/recall"
)

// schema names the document layout and analysis. Opening an index written
// with another schema moves it aside and starts empty, so CatchUp rebuilds
// it from the store: changing a field or analyzer needs no migration step.
const schema = "recall-fulltext-4"

// Internal (non-document) keys in the index.
var (
	keySchema    = []byte("recall.schema")
	keyWatermark = []byte("recall.watermark")
)

// Fields. Two are searched: content, and head, which holds the title,
// summary, keywords and action items (one array element each, so a phrase
// does not run from one into the next) and weighs double, since a word
// there says more about what a conversation is about than the same word
// somewhere in a long transcript. Two fields, not one per part: BM25 in
// bleve scores every document a clause matches, so each searched field is
// another posting list walked per word, and a common word's lists are as
// long as the index. The parts are also stored on their own, unindexed,
// for highlights.
const (
	fieldOwner   = "owner"
	fieldHead    = "head"
	fieldContent = "content"
	fieldTitle   = "title"
	fieldSummary = "summary"
	fieldActions = "actions"
)

// textFields are the searched fields with their boosts.
var textFields = []struct {
	name  string
	boost float64
}{
	{fieldHead, 2},
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

	// stem analyses queries and highlights; written analyses documents
	// (stem plus words as written); plain finds prefix matches to mark.
	stem, written, plain analysis.Analyzer

	markMu sync.Mutex
	mark   Watermark

	// writer queues and writes every change (writer.go); nil on an index
	// only Rebuild writes.
	writer *writer
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
	x.writer = newWriter()
	go x.writeLoop()
	return x, nil
}

func runtimeConfig() map[string]any {
	return map[string]any{
		// Batch returns when the change is searchable; the persister syncs
		// in the background. The watermark makes that safe (see package doc).
		"unsafe_batch": true,
		"bolt_timeout": "1s",
		// The persister waits this long after a change before writing a
		// segment file, so the small segments of many batches are merged in
		// memory and written as one, not each written and then merged again
		// on disk. Without it the background merges of tiny files cost about
		// as much CPU as the creates themselves; with it indexing a create
		// costs well under half as much (see BenchmarkCreateIndexing). What
		// it delays is only durability, which the watermark already covers,
		// and Close by up to as long (its flush waits for the persister).
		"scorchPersisterOptions": map[string]any{"PersisterNapTimeMSec": persisterNap},
	}
}

// persisterNap is how long, in milliseconds, the persister lets batches
// gather in memory (see runtimeConfig). Measured at 100, 250, 500, 1000
// and 2000: the CPU saved levels off at 500.
const persisterNap = 500

// openOrCreate opens the index at path, or creates it. The index is
// derived data (the store is the truth and Open catches up with it), so an
// index that cannot be read, such as one whose creation a killed process
// left half-written, or one of another schema, is moved aside and built
// afresh rather than refusing to start. Only another process holding it
// (bolt's lock timeout) is an error.
func openOrCreate(path string, log *slog.Logger) (bleve.Index, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return create(path)
	}
	idx, err := bleve.OpenUsing(path, runtimeConfig())
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("fulltext: open %s: %w", path, err)
	}
	reason := ""
	if err != nil {
		reason = err.Error()
	} else if got, gerr := idx.GetInternal(keySchema); gerr == nil && string(got) == schema {
		return idx, nil
	} else {
		_ = idx.Close()
		reason = fmt.Sprintf("schema %q, want %q", got, schema)
	}
	aside := fmt.Sprintf("%s.old-%d", path, time.Now().UnixNano())
	log.Warn("search index unreadable or of another schema; moving it aside and rebuilding", "path", path, "reason", reason, "moved_to", aside)
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("fulltext: move old index aside: %w", err)
	}
	return create(path)
}

// create builds an empty index beside path and renames it into place, so
// a process killed while creating it leaves no half-written index at path.
func create(path string) (bleve.Index, error) {
	m, err := newMapping()
	if err != nil {
		return nil, err
	}
	// Created without unsafe_batch: the mapping and the schema mark are
	// written before Close returns, so the renamed index always opens.
	// Nor does it nap: its one write waits for the persister.
	safe := runtimeConfig()
	delete(safe, "unsafe_batch")
	delete(safe, "scorchPersisterOptions")
	tmp := fmt.Sprintf("%s.new-%d-%d", path, os.Getpid(), time.Now().UnixNano())
	idx, err := bleve.NewUsing(tmp, m, scorch.Name, scorch.Name, safe)
	if err != nil {
		return nil, fmt.Errorf("fulltext: create %s: %w", path, err)
	}
	err = idx.SetInternal(keySchema, []byte(schema))
	if cerr := idx.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("fulltext: create %s: %w", path, err)
	}
	idx, err = bleve.OpenUsing(path, runtimeConfig())
	if err != nil {
		return nil, fmt.Errorf("fulltext: open %s: %w", path, err)
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
	return m, nil
}

// asWritten marks a word indexed as written beside its stem. The byte
// cannot come out of analysis of valid text (the tokenizer keeps letters,
// digits and joining marks), so it meets only prefix queries built with it.
const asWritten = "\x01"

// keepWritten wraps the stemmer: each token it changes is followed, at the
// same position, by the word as written, marked with asWritten.
type keepWritten struct{ stem analysis.TokenFilter }

func (k keepWritten) Filter(in analysis.TokenStream) analysis.TokenStream {
	// The stemmer sets a new slice on the tokens it changes, so the slices
	// taken before it stay as written. One pass over the stream, and the
	// written copies share one buffer: this runs for every indexed word.
	orig := make([][]byte, len(in))
	for i, t := range in {
		orig[i] = t.Term
	}
	k.stem.Filter(in)
	changed, size := 0, 0
	for i, t := range in {
		if !bytes.Equal(orig[i], t.Term) {
			changed++
			size += len(asWritten) + len(orig[i])
		}
	}
	if changed == 0 {
		return in
	}
	out := make(analysis.TokenStream, 0, len(in)+changed)
	copies := make([]analysis.Token, 0, changed)
	buf := make([]byte, 0, size)
	for i, t := range in {
		out = append(out, t)
		if !bytes.Equal(orig[i], t.Term) {
			start := len(buf)
			buf = append(append(buf, asWritten...), orig[i]...)
			copies = append(copies, *t)
			w := &copies[len(copies)-1]
			w.Term = buf[start:len(buf):len(buf)]
			out = append(out, w)
		}
	}
	return out
}

// indexAnalyzer is the "en" analyzer with the stemmer wrapped in
// keepWritten: what documents are analysed with. Queries are analysed with
// plain "en", so phrases and words see only stems.
func indexAnalyzer(en analysis.Analyzer) (analysis.Analyzer, error) {
	d, ok := en.(*analysis.DefaultAnalyzer)
	if !ok || len(d.TokenFilters) == 0 {
		return nil, fmt.Errorf("fulltext: unexpected English analyzer %T", en)
	}
	filters := slices.Clone(d.TokenFilters)
	filters[len(filters)-1] = keepWritten{stem: filters[len(filters)-1]}
	return &analysis.DefaultAnalyzer{CharFilters: d.CharFilters, Tokenizer: d.Tokenizer, TokenFilters: filters}, nil
}

// plainAnalyzer splits text into runs of letters and digits and lower-cases
// them: how highlights find the words a prefix matched.
var plainAnalyzer analysis.Analyzer = &analysis.DefaultAnalyzer{
	Tokenizer: character.NewCharacterTokenizer(func(r rune) bool {
		return stdunicode.IsLetter(r) || stdunicode.IsDigit(r)
	}),
	TokenFilters: []analysis.TokenFilter{lowercase.NewLowerCaseFilter()},
}

// adopt makes idx the live index, reading its analyzers and watermark.
func (x *Index) adopt(idx bleve.Index) error {
	stem := idx.Mapping().AnalyzerNamed(en.AnalyzerName)
	if stem == nil {
		return fmt.Errorf("fulltext: analyzer %q not available", en.AnalyzerName)
	}
	written, err := indexAnalyzer(stem)
	if err != nil {
		return err
	}
	raw, err := idx.GetInternal(keyWatermark)
	if err != nil {
		return fmt.Errorf("fulltext: read watermark: %w", err)
	}
	mark, err := decodeWatermark(raw)
	if err != nil {
		return fmt.Errorf("fulltext: %w", err)
	}
	x.idx, x.stem, x.written, x.plain = idx, stem, written, plainAnalyzer
	x.markMu.Lock()
	x.mark = mark
	x.markMu.Unlock()
	return nil
}

// Close writes what is queued, flushes and closes the index. A change it
// cannot write (the index failing) is not lost: the watermark does not
// cover it, so CatchUp at the next start indexes it from the store.
func (x *Index) Close() error {
	var werr error
	if x.writer != nil {
		werr = x.writer.stop(closeFlushTimeout)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.idx == nil {
		return nil
	}
	ferr := x.flush(closeFlushTimeout)
	err := x.idx.Close()
	x.idx = nil
	if err = errors.Join(werr, ferr, err); err != nil {
		return fmt.Errorf("fulltext: close: %w", err)
	}
	return nil
}

// closeFlushTimeout bounds how long Close waits for the index to reach the
// disk; what does not is recovered by CatchUp at the next start.
const closeFlushTimeout = 30 * time.Second

// flush waits until every change made so far is on disk. Writes return
// before that (see the package doc), and bleve's Close stops its persister
// without a last sync, so Close calls flush first: a batch that rewrites
// the watermark, whose persisted callback fires once it and everything
// before it are synced.
func (x *Index) flush(timeout time.Duration) error {
	done := make(chan error, 1)
	b := x.idx.NewBatch()
	b.SetInternal(keyWatermark, x.Watermark().encode())
	b.SetPersistedCallback(func(err error) { done <- err })
	if err := x.idx.Batch(b); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("flush: not on disk after %s", timeout)
	}
}

// docID is the document ID of conversation id of owner. The separator
// cannot appear in an ID made by recall.NewID.
func docID(owner, id string) string { return owner + "\x1f" + id }

// convID is the conversation ID in a document ID.
func convID(doc string) string { return doc[strings.LastIndexByte(doc, 0x1f)+1:] }

// document builds the bleve document of c.
func (x *Index) document(c *recall.Conversation) *document.Document {
	d := document.NewDocument(docID(c.Owner, c.ID))
	// Positions (term vectors) are for phrase queries. Content is stored
	// for highlights; head is not, since its parts are stored on their own
	// below and a second copy of them was never read.
	const searched = index.IndexField | index.IncludeTermVectors
	text := func(name, value string, pos []uint64, opts index.FieldIndexingOptions) {
		if value != "" {
			d.AddField(document.NewTextFieldCustom(name, pos, []byte(value), opts, x.written))
		}
	}
	d.AddField(document.NewTextFieldCustom(fieldOwner, nil, []byte(c.Owner), index.IndexField, nil))
	text(fieldContent, c.Content, nil, searched|index.StoreField)
	head := slices.Concat([]string{c.Title, c.Summary}, c.Keywords, c.ActionItems)
	for i, h := range head {
		text(fieldHead, h, []uint64{uint64(i)}, searched)
	}
	keep := func(name, value string, pos []uint64) {
		if value != "" {
			d.AddField(document.NewTextFieldCustom(name, pos, []byte(value), index.StoreField, nil))
		}
	}
	keep(fieldTitle, c.Title, nil)
	keep(fieldSummary, c.Summary, nil)
	for i, a := range c.ActionItems {
		keep(fieldActions, a, []uint64{uint64(i)})
	}
	return d
}

// Index implements recall.Index. The change is queued behind every change
// accepted before it (see writer.go) and Index returns once it is written
// and searchable, or with the error of the batch that could not write it
// (that batch is retried all the same). The worker indexes a finished run
// with it, so a failure reaches its retry (IndexRetries).
func (x *Index) Index(ctx context.Context, c *recall.Conversation) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fulltext: index: %w", err)
	}
	return x.submitAndWait(ctx, &change{c: c, size: sizeOf(c)}, "index "+c.ID)
}

// Accept queues c to be indexed and returns without waiting for the write:
// what a create calls, so it answers after the store write, not after the
// index's. A Search that begins after Accept returns finds c (it waits for
// the write first). While the queue is full Accept waits for room, until
// ctx ends; it never drops a change it accepted.
func (x *Index) Accept(ctx context.Context, c *recall.Conversation) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fulltext: accept %s: %w", c.ID, err)
	}
	if _, err := x.writer.submit(ctx, &change{c: c, size: sizeOf(c)}); err != nil {
		return fmt.Errorf("fulltext: accept %s: %w", c.ID, err)
	}
	return nil
}

// submitAndWait queues ch and waits for the batch that writes it.
func (x *Index) submitAndWait(ctx context.Context, ch *change, doing string) error {
	done := make(chan error, 1)
	ch.done = done
	if _, err := x.writer.submit(ctx, ch); err != nil {
		return fmt.Errorf("fulltext: %s: %w", doing, err)
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("fulltext: %s: %w", doing, err)
		}
		return nil
	case <-ctx.Done():
		// Still queued: it will be written; only this caller stops waiting.
		return fmt.Errorf("fulltext: %s: %w", doing, ctx.Err())
	}
}

// sizeOf is what c weighs in the queue (maxQueuedBytes).
func sizeOf(c *recall.Conversation) int {
	n := len(c.Title) + len(c.Content) + len(c.Summary)
	for _, s := range c.ActionItems {
		n += len(s)
	}
	for _, s := range c.Keywords {
		n += len(s)
	}
	return n
}

// Settle returns once every change accepted before it was called is
// written (or, if its batch failed, put back to be retried), or ctx ends.
// Search does this first; benchmarks and tests use it to wait for the
// queue.
func (x *Index) Settle(ctx context.Context) error {
	w := x.writer
	w.mu.Lock()
	target := w.accepted
	w.mu.Unlock()
	if err := w.wait(ctx, target); err != nil {
		return recall.Wrap(fmt.Errorf("fulltext: wait for the index queue: %w", err), recall.EUNAVAILABLE, "the search index is behind")
	}
	return nil
}

// indexBatch indexes cs in one bleve batch that also records the advanced
// watermark. CatchUp and Rebuild write with it directly, not through the
// writer: they run before serving, or on an index nothing else writes.
func (x *Index) indexBatch(ctx context.Context, cs []*recall.Conversation) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fulltext: index: %w", err)
	}
	if len(cs) == 0 {
		return nil
	}
	return x.write(len(cs), func(b *bleveBatch, next *Watermark) {
		for _, c := range cs {
			b.IndexAdvanced(x.document(c)) // errors only for an empty ID; a docID never is
			*next = next.Max(markOf(c))
		}
	})
}

type bleveBatch = bleve.Batch

// write builds a batch with fill, which adds n changes and advances the
// watermark it is given, and writes it with that watermark.
func (x *Index) write(n int, fill func(b *bleveBatch, next *Watermark)) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.idx == nil {
		return recall.Errorf(recall.EUNAVAILABLE, "the search index is closed")
	}
	b := x.idx.NewBatch()
	next := x.Watermark()
	fill(b, &next)
	b.SetInternal(keyWatermark, next.encode())
	if err := x.idx.Batch(b); err != nil {
		return recall.Wrap(fmt.Errorf("fulltext: write %d change(s): %w", n, err), recall.EUNAVAILABLE, "the search index could not be written")
	}
	x.advance(next)
	return nil
}

// Delete implements recall.Index. It goes through the queue like Index, so
// a write accepted before it cannot bring the entry back, and returns once
// the entry is gone.
func (x *Index) Delete(ctx context.Context, owner, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fulltext: delete %s: %w", id, err)
	}
	return x.submitAndWait(ctx, &change{owner: owner, id: id}, "delete "+id)
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
	x.writer.mu.Lock()
	failing := x.writer.failing
	x.writer.mu.Unlock()
	if failing != nil {
		return recall.Wrap(fmt.Errorf("fulltext: ping: the last write failed: %w", failing), recall.EUNAVAILABLE, "the search index cannot be written")
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
