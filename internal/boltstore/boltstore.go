// Package boltstore is Recall's embedded, persistent Store on bbolt: one file
// on local disk, no server to run, the default for the local runner.
//
// Layout (all keys are byte strings, compared bytewise by bbolt):
//
//	conversations  ownerKey(owner) + id          → JSON conversation
//	idempotency    ownerKey(owner) + key         → JSON {id, fingerprint, expires}
//	idem_expiry    be64(expires) + ownerKey + key → nothing (cleanup order)
//	idem_by_conv   ownerKey(owner) + id           → ownerKey(owner) + key (Delete's way to the key)
//	stuck          be64(updated_at) + id          → ownerKey(owner) + id
//	items, items_by                                 action items in listing order (items.go)
//	probe          random key                      → nothing, briefly (Probe)
//
// ownerKey is the owner's length as a uvarint followed by the owner, so no
// owner's prefix is another's and a List is one cursor scan over a prefix.
// IDs are ULIDs, which sort by creation time, so that scan walks backwards to
// list newest first. The stuck index holds exactly the conversations in
// pending or processing; every write keeps it in step, so Stuck is a range
// scan over the oldest entries rather than a scan of every conversation.
//
// Holds (Conversation.LeaseUntil) are released when the file is opened: only
// one process can have it open, so whoever took them is gone.
//
// Every write goes through bbolt's Batch, which groups concurrent writers
// into one transaction and so one fsync: creates from many clients share the
// cost of durability instead of queueing behind one fsync each. Sync is never
// turned off.
package boltstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"recall/internal/recall"
)

var (
	_ recall.Store   = (*Store)(nil)
	_ recall.Scanner = (*Store)(nil)
)

var (
	bucketConversations = []byte("conversations")
	bucketIdempotency   = []byte("idempotency")
	bucketIdemExpiry    = []byte("idem_expiry")
	bucketStuck         = []byte("stuck")
	bucketIdemByConv    = []byte("idem_by_conv")
	bucketProbe         = []byte("probe")
)

// idemCleanupPerWrite bounds how many expired idempotency keys one Create
// deletes, so cleanup is spread over writes and never stalls one of them.
const idemCleanupPerWrite = 16

// ErrInUse is returned by Open when another process holds the database file.
// bbolt takes an exclusive lock on the file, so two runners on one data
// directory would otherwise wait on each other forever.
var ErrInUse = errors.New("data dir is in use by another recall process")

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// Timeout is how long Open waits for another process to release the file
	// before failing with ErrInUse (1s).
	Timeout time.Duration
	// Now is the clock used to decide whether an idempotency key has
	// expired; tests replace it. Defaults to time.Now.
	Now func() time.Time
	// MaxBatchDelay is how long a write waits for others to join its
	// transaction (2ms). Shorter lowers latency under light load; longer
	// raises throughput under heavy load.
	MaxBatchDelay time.Duration
	// MaxBatchSize caps how many writes share one transaction (1000).
	MaxBatchSize int
}

// Store is a recall.Store in one bbolt file. It is safe for concurrent use
// by many goroutines of one process.
type Store struct {
	db  *bolt.DB
	now func() time.Time
}

// Open opens (creating if needed) the database file at path, creating its
// directory too. It fails with an error wrapping ErrInUse when another
// process has the file open.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxBatchDelay <= 0 {
		opts.MaxBatchDelay = 2 * time.Millisecond
	}
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = 1000
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: create data dir: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	db.MaxBatchDelay = opts.MaxBatchDelay
	db.MaxBatchSize = opts.MaxBatchSize
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketConversations, bucketIdempotency, bucketIdemExpiry, bucketStuck, bucketItems, bucketItemsBy} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := indexIdemKeys(tx); err != nil {
			return err
		}
		if err := releaseHolds(tx); err != nil {
			return fmt.Errorf("release holds: %w", err)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: prepare %s: %w", path, err)
	}
	return &Store{db: db, now: opts.Now}, nil
}

// releaseHolds ends every hold (Conversation.LeaseUntil) on a conversation
// in progress. The file lock lets one process at a time use the store, so
// a hold found at Open was taken by a process that is gone: its attempt
// will never settle, and waiting the hold out would only delay the
// sweeper's recovery of its work by an analysis timeout.
func releaseHolds(tx *bolt.Tx) error {
	convs := tx.Bucket(bucketConversations)
	type held struct{ key, val []byte }
	var release []held
	err := tx.Bucket(bucketStuck).ForEach(func(_, convKey []byte) error {
		c, err := getConv(convs, convKey)
		if err != nil || c == nil || c.LeaseUntil.IsZero() {
			return err
		}
		c.LeaseUntil = time.Time{}
		val, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		release = append(release, held{bytes.Clone(convKey), val})
		return nil
	})
	if err != nil {
		return err
	}
	for _, h := range release {
		if err := convs.Put(h.key, h.val); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the file, so another process may open it.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

// idemRecord is what an idempotency key remembers.
type idemRecord struct {
	ID          string    `json:"id"`
	Fingerprint string    `json:"fingerprint"`
	Expires     time.Time `json:"expires"`
}

// getIdem reads idempotency key k (ownerKey + key) in tx; nil when absent.
func getIdem(tx *bolt.Tx, k []byte) (*idemRecord, error) {
	raw := tx.Bucket(bucketIdempotency).Get(k)
	if raw == nil {
		return nil, nil
	}
	return decodeIdem(raw)
}

func decodeIdem(raw []byte) (*idemRecord, error) {
	var rec idemRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("decode idempotency key: %w", err)
	}
	return &rec, nil
}

// Create implements recall.Store.
func (s *Store) Create(ctx context.Context, c *recall.Conversation, idem *recall.Idempotency) (*recall.Conversation, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("boltstore: create %s: %w", c.ID, err)
	}
	rec := c.InUTC()
	rec.Items = nil // an analysis brings them
	val, err := encode(rec)
	if err != nil {
		return nil, false, fmt.Errorf("boltstore: encode %s: %w", c.ID, err)
	}
	var idemVal []byte
	if idem != nil {
		idemVal, err = json.Marshal(idemRecord{ID: rec.ID, Fingerprint: idem.Fingerprint, Expires: idem.Expires.UTC()})
		if err != nil {
			return nil, false, fmt.Errorf("boltstore: encode idempotency key: %w", err)
		}
	}
	ok := ownerKey(rec.Owner)
	convKey := append(bytes.Clone(ok), rec.ID...)
	now := s.now()

	// Batch may run fn more than once; every result is reset at its top and
	// domain outcomes are returned through variables, not as fn's error, so
	// a refused create does not make bbolt re-run the whole batch.
	var (
		stored  *recall.Conversation
		created bool
		derr    error
	)
	err = s.db.Batch(func(tx *bolt.Tx) error {
		stored, created, derr = nil, false, nil
		convs := tx.Bucket(bucketConversations)
		if idem != nil {
			got, replayErr, err := replay(tx, ok, idem, now)
			if err != nil || replayErr != nil || got != nil {
				stored, derr = got, replayErr
				return err
			}
		}
		// Nothing is written before this check: a refused create must leave
		// no key behind.
		if convs.Get(convKey) != nil {
			derr = recall.Errorf(recall.ECONFLICT, "conversation %s already exists", rec.ID)
			return nil
		}
		if idem != nil {
			if err := putIdemKey(tx, append(bytes.Clone(ok), idem.Key...), idemVal, idem.Expires, convKey); err != nil {
				return err
			}
		}
		if err := convs.Put(convKey, val); err != nil {
			return err
		}
		if rec.Status.InProgress() {
			if err := tx.Bucket(bucketStuck).Put(stuckKey(rec.UpdatedAt, rec.ID), convKey); err != nil {
				return err
			}
		}
		if err := cleanExpired(tx, now); err != nil {
			return err
		}
		stored, created = rec, true
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("boltstore: create %s: %w", c.ID, err)
	}
	if derr != nil {
		return nil, false, derr
	}
	return stored, created, nil
}

// replay looks up idem among owner's live keys (owner is its ownerKey):
// the conversation it names, ECONFLICT (as the domain error derr) when it
// was used for another body or names a conversation that is gone, or
// nothing when the key is new or expired.
func replay(tx *bolt.Tx, owner []byte, idem *recall.Idempotency, now time.Time) (got *recall.Conversation, derr, err error) {
	prev, err := getIdem(tx, append(bytes.Clone(owner), idem.Key...))
	if err != nil || prev == nil || !prev.Expires.After(now) {
		return nil, nil, err
	}
	if prev.Fingerprint != idem.Fingerprint {
		return nil, recall.Errorf(recall.ECONFLICT, "Idempotency-Key %q was used for a different request.", idem.Key), nil
	}
	got, err = getConv(tx.Bucket(bucketConversations), append(bytes.Clone(owner), prev.ID...))
	if err != nil {
		return nil, nil, err
	}
	if got == nil {
		return nil, recall.Errorf(recall.ECONFLICT, "Idempotency-Key %q names a conversation that no longer exists.", idem.Key), nil
	}
	return got, nil, nil
}

// putIdemKey writes idempotency key idemKey (replacing an expired one of
// the same name) for the conversation at convKey, with its expiry entry
// and the way back from the conversation to it.
func putIdemKey(tx *bolt.Tx, idemKey, val []byte, expires time.Time, convKey []byte) error {
	keys, exp := tx.Bucket(bucketIdempotency), tx.Bucket(bucketIdemExpiry)
	prev, err := getIdem(tx, idemKey)
	if err != nil {
		return err
	}
	if prev != nil {
		if err := exp.Delete(expiryKey(prev.Expires, idemKey)); err != nil {
			return err
		}
	}
	if err := keys.Put(idemKey, val); err != nil {
		return err
	}
	if err := tx.Bucket(bucketIdemByConv).Put(convKey, idemKey); err != nil {
		return err
	}
	return exp.Put(expiryKey(expires, idemKey), nil)
}

// cleanExpired deletes a few idempotency keys that have expired, oldest
// first, so the bucket does not grow without bound.
func cleanExpired(tx *bolt.Tx, now time.Time) error {
	exp := tx.Bucket(bucketIdemExpiry)
	keys := tx.Bucket(bucketIdempotency)
	limit := be64(now)
	c := exp.Cursor()
	var dead [][]byte
	for k, _ := c.First(); k != nil && len(dead) < idemCleanupPerWrite && bytes.Compare(k[:8], limit) < 0; k, _ = c.Next() {
		dead = append(dead, bytes.Clone(k))
	}
	for _, k := range dead {
		if err := exp.Delete(k); err != nil {
			return err
		}
		if err := forgetIdemKey(tx, k[8:]); err != nil {
			return err
		}
		if err := keys.Delete(k[8:]); err != nil {
			return err
		}
	}
	return nil
}

// Get implements recall.Store.
func (s *Store) Get(ctx context.Context, owner, id string) (*recall.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: get %s: %w", id, err)
	}
	var got *recall.Conversation
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		got, err = getConv(tx.Bucket(bucketConversations), append(ownerKey(owner), id...))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get %s: %w", id, err)
	}
	if got == nil {
		return nil, recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", id)
	}
	return got, nil
}

// List implements recall.Store.
func (s *Store) List(ctx context.Context, owner, after string, limit int) ([]*recall.Conversation, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("boltstore: list: %w", err)
	}
	if limit <= 0 {
		return nil, false, recall.Errorf(recall.EINVALID, "limit must be positive")
	}
	prefix := ownerKey(owner)
	// Start just below after, or above every ID (0xff sorts after every
	// ULID character) for the first page, and walk backwards.
	start := append(bytes.Clone(prefix), after...)
	if after == "" {
		start = append(start, 0xff)
	}
	var (
		items []*recall.Conversation
		more  bool
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketConversations).Cursor()
		k, v := c.Seek(start)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(items) == limit {
				more = true
				return nil
			}
			conv, err := decode(v)
			if err != nil {
				return err
			}
			items = append(items, conv)
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("boltstore: list: %w", err)
	}
	return items, more, nil
}

// Transition implements recall.Store.
func (s *Store) Transition(ctx context.Context, ref recall.Ref, t recall.Transition) (*recall.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: %s %s: %w", t.Event, ref.ID, err)
	}
	convKey := append(ownerKey(ref.Owner), ref.ID...)
	var (
		updated *recall.Conversation
		derr    error
	)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		updated, derr = nil, nil
		convs := tx.Bucket(bucketConversations)
		c, err := getConv(convs, convKey)
		if err != nil {
			return err
		}
		if c == nil {
			derr = recall.Errorf(recall.ENOTFOUND, "No conversation with id %q.", ref.ID)
			return nil
		}
		oldKey, wasStuck := stuckKey(c.UpdatedAt, c.ID), c.Status.InProgress()
		var oldItems []recall.ListedItem
		if t.Event == recall.EventDone { // the only event that changes items
			oldItems = recall.ListedItems(c)
		}
		if err := c.Apply(ref.Run, t); err != nil {
			derr = err
			return nil
		}
		c = c.InUTC()
		val, err := encode(c)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		if err := convs.Put(convKey, val); err != nil {
			return err
		}
		idx := tx.Bucket(bucketStuck)
		if wasStuck {
			if err := idx.Delete(oldKey); err != nil {
				return err
			}
		}
		if c.Status.InProgress() {
			if err := idx.Put(stuckKey(c.UpdatedAt, c.ID), convKey); err != nil {
				return err
			}
		}
		if t.Event == recall.EventDone {
			if err := replaceItemRows(tx, c.Owner, oldItems, recall.ListedItems(c)); err != nil {
				return err
			}
		}
		updated = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: %s %s: %w", t.Event, ref.ID, err)
	}
	if derr != nil {
		return nil, derr
	}
	return updated, nil
}

// Stuck implements recall.Store. The cursor is the hex form of the last
// index key returned.
func (s *Store) Stuck(ctx context.Context, before time.Time, cursor string, limit int) ([]*recall.Conversation, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("boltstore: stuck: %w", err)
	}
	if limit <= 0 {
		return nil, "", recall.Errorf(recall.EINVALID, "limit must be positive")
	}
	var from []byte
	if cursor != "" {
		var err error
		if from, err = hex.DecodeString(cursor); err != nil || len(from) <= 8 {
			return nil, "", recall.Errorf(recall.EINVALID, "stuck cursor is not valid")
		}
	}
	end := be64(before)
	var (
		items []*recall.Conversation
		next  string
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		convs := tx.Bucket(bucketConversations)
		c := tx.Bucket(bucketStuck).Cursor()
		var k, v []byte
		if from == nil {
			k, v = c.First()
		} else if k, v = c.Seek(from); k != nil && bytes.Equal(k, from) {
			k, v = c.Next()
		}
		var last []byte
		for ; k != nil && bytes.Compare(k[:8], end) < 0; k, v = c.Next() {
			if len(items) == limit {
				next = hex.EncodeToString(last)
				return nil
			}
			conv, err := getConv(convs, v)
			if err != nil {
				return err
			}
			if conv == nil {
				return fmt.Errorf("stuck index names missing conversation %x", v)
			}
			items = append(items, conv)
			last = k
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("boltstore: stuck: %w", err)
	}
	return items, next, nil
}

// Ping implements recall.Store: it fails once the store is closed.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: ping: %w", err)
	}
	if err := s.db.View(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("boltstore: ping: %w", err)
	}
	return nil
}

func getConv(b *bolt.Bucket, key []byte) (*recall.Conversation, error) {
	raw := b.Get(key)
	if raw == nil {
		return nil, nil
	}
	return decode(raw)
}

// encode is how a conversation is stored: JSON with '<', '>' and '&' left
// as they are. Escaped, a content of '<' takes six times its size, and a
// listing spends most of its time and memory unescaping it again.
func encode(c *recall.Conversation) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func decode(raw []byte) (*recall.Conversation, error) {
	var c recall.Conversation
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decode conversation: %w", err)
	}
	return &c, nil
}

func ownerKey(owner string) []byte {
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(owner)+26), uint64(len(owner)))
	return append(b, owner...)
}

// be64 encodes t so that bytewise order is time order, before 1970 too.
func be64(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())^(1<<63))
}

func stuckKey(updated time.Time, id string) []byte { return append(be64(updated), id...) }

func expiryKey(expires time.Time, idemKey []byte) []byte { return append(be64(expires), idemKey...) }

// scanReadBudget bounds how many conversations one Scan page reads, so a
// filter that matches little never holds one read transaction over the
// whole file.
const scanReadBudget = 5000

// Scan implements recall.Scanner: a walk of the conversations bucket in key
// order (owner, then ID), one owner's prefix when the filter names one.
// The cursor is the hex form of the last key read.
func (s *Store) Scan(ctx context.Context, f recall.ScanFilter, cursor string, limit int) (recall.ScanPage, error) {
	if err := ctx.Err(); err != nil {
		return recall.ScanPage{}, fmt.Errorf("boltstore: scan: %w", err)
	}
	if limit <= 0 {
		return recall.ScanPage{}, recall.Errorf(recall.EINVALID, "limit must be positive")
	}
	var from []byte
	if cursor != "" {
		var err error
		if from, err = hex.DecodeString(cursor); err != nil || len(from) == 0 {
			return recall.ScanPage{}, recall.Errorf(recall.EINVALID, "scan cursor is not valid")
		}
	}
	var prefix []byte
	if f.Owner != "" {
		prefix = ownerKey(f.Owner)
	}
	var page recall.ScanPage
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketConversations).Cursor()
		var k, v []byte
		switch {
		case from != nil:
			if k, v = c.Seek(from); k != nil && bytes.Equal(k, from) {
				k, v = c.Next()
			}
		case prefix != nil:
			k, v = c.Seek(prefix)
		default:
			k, v = c.First()
		}
		var lastKey []byte
		for read := 0; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(page.Items) == limit || read == scanReadBudget {
				page.Next = hex.EncodeToString(lastKey)
				return nil
			}
			read++
			lastKey = k
			conv, err := decode(v)
			if err != nil {
				return err
			}
			if f.Match(conv) {
				page.Items = append(page.Items, conv)
			}
		}
		return nil
	})
	if err != nil {
		return recall.ScanPage{}, fmt.Errorf("boltstore: scan: %w", err)
	}
	return page, nil
}

// ScanCursor implements recall.Scanner.
func (s *Store) ScanCursor(c *recall.Conversation) string {
	return hex.EncodeToString(append(ownerKey(c.Owner), c.ID...))
}

// Probe writes, reads back and deletes a scratch key, each in its own
// transaction, so `recall doctor` knows the file is writable and synced, not
// only open. It touches no conversation.
func (s *Store) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: probe: %w", err)
	}
	key := make([]byte, 16)
	rand.Read(key)
	val := []byte(time.Now().UTC().Format(time.RFC3339Nano))
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketProbe)
		if err != nil {
			return err
		}
		return b.Put(key, val)
	})
	if err != nil {
		return fmt.Errorf("boltstore: probe write: %w", err)
	}
	var got []byte
	err = s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketProbe); b != nil {
			got = bytes.Clone(b.Get(key))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boltstore: probe read: %w", err)
	}
	if !bytes.Equal(got, val) {
		return fmt.Errorf("boltstore: probe read back %q, wrote %q", got, val)
	}
	err = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketProbe).Delete(key) })
	if err != nil {
		return fmt.Errorf("boltstore: probe delete: %w", err)
	}
	return nil
}
