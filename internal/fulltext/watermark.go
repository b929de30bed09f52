package fulltext

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"

	"recall/internal/recall"
)

// Source is where CatchUp, Behind and Rebuild read conversations from: the
// store. recall.Scanner walks it; Get fills in a conversation a scan
// returned without its content (a store may leave Content empty in scans).
type Source interface {
	Scan(ctx context.Context, f recall.ScanFilter, cursor string, limit int) (recall.ScanPage, error)
	Get(ctx context.Context, owner, id string) (*recall.Conversation, error)
}

// Watermark is the latest change the index has seen: the greatest
// (UpdatedAt, ID) of the conversations indexed. It is stored in the same
// batch as the documents it covers, so after a crash the index never claims
// more than it kept.
//
// It is a high-water mark, not a promise that everything before it is
// indexed: conversations are indexed as requests finish, not in UpdatedAt
// order. CatchUp therefore looks again from Margin before it.
type Watermark struct {
	UpdatedAt time.Time `json:"updated_at"`
	ID        string    `json:"id"`
}

func markOf(c *recall.Conversation) Watermark { return Watermark{UpdatedAt: c.UpdatedAt, ID: c.ID} }

// Max returns the later of w and v.
func (w Watermark) Max(v Watermark) Watermark {
	if v.UpdatedAt.After(w.UpdatedAt) || (v.UpdatedAt.Equal(w.UpdatedAt) && v.ID > w.ID) {
		return v
	}
	return w
}

func (w Watermark) encode() []byte {
	b, _ := json.Marshal(w) // a time and a string always marshal
	return b
}

func decodeWatermark(raw []byte) (Watermark, error) {
	var w Watermark
	if len(raw) == 0 {
		return w, nil
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return w, fmt.Errorf("watermark %q: %w", raw, err)
	}
	return w, nil
}

// Watermark returns the latest change the index has seen (zero for an
// empty index).
func (x *Index) Watermark() Watermark {
	x.markMu.Lock()
	defer x.markMu.Unlock()
	return x.mark
}

func (x *Index) advance(w Watermark) {
	x.markMu.Lock()
	x.mark = x.mark.Max(w)
	x.markMu.Unlock()
}

// scanPage is how many conversations CatchUp, Behind and Rebuild ask a
// scan for at once, and the most documents in one index batch: big enough
// that a batch's fixed cost (a segment, a snapshot) is spread thin.
const scanPage = 500

// since is where CatchUp looks from: Margin before the watermark, or the
// beginning for an empty index.
func (x *Index) since() time.Time {
	w := x.Watermark()
	if w.UpdatedAt.IsZero() {
		return time.Time{}
	}
	return w.UpdatedAt.Add(-x.margin)
}

// Behind counts the conversations in src changed after the watermark: what
// the index has certainly not seen. `recall doctor` reports it; 0 means the
// index is current as far as a watermark can tell. It reads the whole scan
// (the store filters after reading), so it is an operator's tool, not a
// request path.
func (x *Index) Behind(ctx context.Context, src Source) (int, error) {
	w := x.Watermark()
	f := recall.ScanFilter{}
	if !w.UpdatedAt.IsZero() {
		f.Since = w.UpdatedAt
	}
	n := 0
	err := walk(ctx, src, f, func(c *recall.Conversation) error {
		if w.Max(markOf(c)) != w { // strictly after the watermark
			n++
		}
		return nil
	})
	if err != nil {
		return n, fmt.Errorf("fulltext: behind: %w", err)
	}
	return n, nil
}

// CatchUp indexes every conversation in src changed since Margin before the
// watermark, in batches, and returns how many it indexed. Run it at start,
// before serving: after a crash it restores what the index lost, and on an
// index just created (or moved aside for a new schema) it indexes
// everything. Re-indexing a conversation already indexed is harmless.
func (x *Index) CatchUp(ctx context.Context, src Source) (int, error) {
	n, err := x.fill(ctx, src, x.since(), nil)
	if err != nil {
		return n, fmt.Errorf("fulltext: catch up: %w", err)
	}
	return n, nil
}

// fill indexes src's conversations changed at or after since, in batches,
// calling progress after each batch with the running count. Two batches are
// written at once: bleve analyses a batch's documents in parallel but
// builds its segment on the caller's goroutine, so one writer leaves a core
// idle.
func (x *Index) fill(ctx context.Context, src Source, since time.Time, progress func(int)) (int, error) {
	defer roomierGC()()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []*recall.Conversation)
	var (
		mu    sync.Mutex
		n     int
		first error
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
	}
	for range fillWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if err := x.indexBatch(ctx, b); err != nil {
					fail(err)
					continue
				}
				mu.Lock()
				n += len(b)
				if progress != nil {
					progress(n)
				}
				mu.Unlock()
			}
		}()
	}
	batch := make([]*recall.Conversation, 0, scanPage)
	send := func() error {
		select {
		case batches <- batch:
			batch = make([]*recall.Conversation, 0, scanPage)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := walk(ctx, src, recall.ScanFilter{Since: since}, func(c *recall.Conversation) error {
		if c.Content == "" {
			full, err := src.Get(ctx, c.Owner, c.ID)
			if recall.ErrorCode(err) == recall.ENOTFOUND {
				return nil // deleted since the scan read it
			}
			if err != nil {
				return err
			}
			c = full
		}
		batch = append(batch, c)
		if len(batch) == scanPage {
			return send()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = send()
	}
	close(batches)
	wg.Wait()
	if first != nil {
		return n, first
	}
	return n, err
}

// fillWriters is how many batches fill writes at once.
const fillWriters = 2

// walk calls fn for every conversation a scan of src under f returns.
func walk(ctx context.Context, src Source, f recall.ScanFilter, fn func(*recall.Conversation) error) error {
	cursor := ""
	for {
		page, err := src.Scan(ctx, f, cursor, scanPage)
		if err != nil {
			return err
		}
		for _, c := range page.Items {
			if err := fn(c); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		cursor = page.Next
	}
}

// Rebuild builds a new index from every conversation in src beside the
// live one, swaps it in, and then catches up with what changed while it
// ran; searches keep being answered from the old index until the swap.
// progress, if set, is called after each batch with the number indexed so
// far (for `recall reindex`'s progress bar). It returns how many
// conversations the new index holds from the full pass.
//
// A conversation deleted from the store during the rebuild may stay in
// the new index; the Service drops hits it cannot load, and deleting it
// again removes it.
func (x *Index) Rebuild(ctx context.Context, src Source, progress func(n int)) (int, error) {
	start := time.Now()
	tmp := x.path + ".rebuild"
	if err := os.RemoveAll(tmp); err != nil {
		return 0, fmt.Errorf("fulltext: rebuild: %w", err)
	}
	idx, err := create(tmp)
	if err != nil {
		return 0, err
	}
	fresh := &Index{path: tmp, log: x.log, margin: x.margin}
	if err := fresh.adopt(idx); err != nil {
		_ = idx.Close()
		return 0, err
	}
	n, err := fresh.fill(ctx, src, time.Time{}, progress)
	if err == nil {
		err = fresh.compact(ctx)
	}
	if err == nil {
		// Claim no more than the moment the scan began, so the catch-up
		// after the swap covers every change made during it.
		if w := fresh.Watermark(); w.UpdatedAt.After(start) {
			err = fresh.setWatermark(Watermark{UpdatedAt: start})
		}
	}
	if cerr := fresh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return n, fmt.Errorf("fulltext: rebuild: %w", err)
	}
	if err := x.swap(tmp); err != nil {
		return n, err
	}
	if _, err := x.CatchUp(ctx, src); err != nil {
		return n, err
	}
	return n, nil
}

// compact merges the index's segments as the background merger would in
// time, so a rebuilt index answers at full speed from its first search
// instead of while merges compete with it.
func (x *Index) compact(ctx context.Context) error {
	adv, err := x.idx.Advanced()
	if err != nil {
		return err
	}
	s, ok := adv.(*scorch.Scorch)
	if !ok {
		return nil
	}
	if err := s.ForceMerge(ctx, &mergeplan.DefaultMergePlanOptions); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return nil
}

// setWatermark overwrites the stored watermark, even with an earlier one.
func (x *Index) setWatermark(w Watermark) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if err := x.idx.SetInternal(keyWatermark, w.encode()); err != nil {
		return err
	}
	x.markMu.Lock()
	x.mark = w
	x.markMu.Unlock()
	return nil
}

// swap replaces the live index with the closed index at dir.
func (x *Index) swap(dir string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.idx == nil {
		return recall.Errorf(recall.EUNAVAILABLE, "the search index is closed")
	}
	if err := x.idx.Close(); err != nil {
		return fmt.Errorf("fulltext: rebuild: close old index: %w", err)
	}
	x.idx = nil
	old := x.path + ".replaced"
	_ = os.RemoveAll(old)
	if err := os.Rename(x.path, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("fulltext: rebuild: move old index: %w", err)
	}
	if err := os.Rename(dir, x.path); err != nil {
		_ = os.Rename(old, x.path)
		return fmt.Errorf("fulltext: rebuild: move new index: %w", err)
	}
	idx, err := openOrCreate(x.path, x.log)
	if err != nil {
		return err
	}
	if err := x.adopt(idx); err != nil {
		_ = idx.Close()
		return err
	}
	_ = os.RemoveAll(old)
	return nil
}

// fillGOGC is the garbage collector's target (GOGC) while fill runs.
// Analysing and building segments allocates far more than an index batch
// keeps, so at the default of 100 collection took about a tenth of a
// rebuild's CPU; at 200 `recall reindex` runs about 10% faster
// (BenchmarkReindexFromStore: 1,914 conversations/s at 100, 2,100–2,300 at
// 200), for a heap that may grow to three times what is live instead of
// twice, while the rebuild lasts.
const fillGOGC = 200

var gc struct {
	sync.Mutex
	users int // fills running
	prev  int // the percentage before the first of them
}

// roomierGC sets the collector's target to fillGOGC until the returned
// function is called, unless the operator chose one (GOGC). Overlapping
// fills share one setting, and the last to finish restores the previous.
func roomierGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	gc.Lock()
	defer gc.Unlock()
	if gc.users == 0 {
		gc.prev = debug.SetGCPercent(fillGOGC)
	}
	gc.users++
	return sync.OnceFunc(func() {
		gc.Lock()
		defer gc.Unlock()
		if gc.users--; gc.users == 0 {
			debug.SetGCPercent(gc.prev)
		}
	})
}
