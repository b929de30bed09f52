package recall

import (
	"bytes"
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// listStore is the smallest Store a listing needs: conversations kept in
// memory per owner. It lives here, in package recall, because the cursor's
// encoder and decoder are unexported and a test in this package cannot
// import a real store (that would be an import cycle); its List follows the
// Store contract the shared suite pins down (newest first, strictly after
// the given ID, more when further items exist).
type listStore struct {
	mu      sync.Mutex
	byOwner map[string][]*Conversation // ascending by ID
	items   map[string][]ListedItem    // ascending by SortKey (itemcursor_test.go)
}

func (s *listStore) Create(_ context.Context, c *Conversation, _ *Idempotency) (*Conversation, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *c
	s.byOwner[c.Owner] = append(s.byOwner[c.Owner], &cp)
	slices.SortFunc(s.byOwner[c.Owner], func(a, b *Conversation) int { return strings.Compare(a.ID, b.ID) })
	return &cp, true, nil
}

func (s *listStore) Get(_ context.Context, owner, id string) (*Conversation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.byOwner[owner] {
		if c.ID == id {
			cp := *c
			return &cp, nil
		}
	}
	return nil, Errorf(ENOTFOUND, "no conversation %s", id)
}

func (s *listStore) List(_ context.Context, owner, after string, limit int) ([]*Conversation, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := s.byOwner[owner]
	var out []*Conversation
	for i := len(all) - 1; i >= 0; i-- {
		if after != "" && all[i].ID >= after {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		cp := *all[i]
		out = append(out, &cp)
	}
	return out, false, nil
}

func (s *listStore) Transition(context.Context, Ref, Transition) (*Conversation, error) {
	return nil, Errorf(ENOTFOUND, "not used by listings")
}

func (s *listStore) Stuck(context.Context, time.Time, string, int) ([]*Conversation, string, error) {
	return nil, "", nil
}

func (s *listStore) Ping(context.Context) error { return nil }

// cursorService returns a service over a listStore holding seven of alice's
// conversations and three of bob's, one millisecond apart.
func cursorService(tb testing.TB) *Service {
	tb.Helper()
	st := &listStore{byOwner: map[string][]*Conversation{}}
	base := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		owner := "alice"
		if i%3 == 2 && i < 9 {
			owner = "bob"
		}
		at := base.Add(time.Duration(i) * time.Millisecond)
		c := &Conversation{ID: NewID(at), Owner: owner, Content: "c", CreatedAt: at, UpdatedAt: at, Status: StatusPending, Run: 1, Priority: PriorityDefault}
		if _, _, err := st.Create(context.Background(), c, nil); err != nil {
			tb.Fatal(err)
		}
	}
	return NewService(Config{Store: st, CursorKey: []byte("fuzz-cursor-key")})
}

// FuzzCursor lists through Service.List with arbitrary cursors, owners and
// limits. Whatever the cursor, the answer is a page or an EINVALID error
// with a message, never a panic or another code; a cursor is only accepted
// if it is, byte for byte, one the service issued to that owner, and the
// page it yields holds only that owner's conversations older than it,
// newest first. Every cursor the service issues decodes back to the last ID
// of its page for its owner, and for no other owner.
func FuzzCursor(f *testing.F) {
	svc := cursorService(f)
	ctx := context.Background()
	// Seeds: real cursors of both owners at several page sizes, and the
	// usual ways to damage one.
	var real []string
	for _, owner := range []string{"alice", "bob"} {
		for _, limit := range []int{1, 2, 3} {
			p, err := svc.List(ctx, owner, limit, "")
			if err != nil {
				f.Fatal(err)
			}
			if p.NextCursor != "" {
				real = append(real, p.NextCursor)
			}
		}
	}
	id := NewID(time.Date(2026, 11, 29, 10, 0, 0, 5e6, time.UTC))
	for _, c := range real {
		f.Add(c, "alice", uint8(2))
		f.Add(c, "bob", uint8(20))
		f.Add(c[:len(c)-1], "alice", uint8(2))
		f.Add(c+"A", "alice", uint8(2))
		f.Add(c+"==", "alice", uint8(2))
		f.Add(strings.ToUpper(c), "alice", uint8(100))
	}
	for _, c := range []string{
		"", "=", "AAAA", base64.RawURLEncoding.EncodeToString([]byte(id)),
		base64.StdEncoding.EncodeToString([]byte(id + "0123456789abcdef")),
		base64.RawURLEncoding.EncodeToString([]byte("../../../../etc/passwd0000000000000000000000")),
		strings.Repeat("A", 4096), "%00", "\xff\xfe", "\x00",
	} {
		f.Add(c, "alice", uint8(0))
		f.Add(c, "", uint8(101))
	}
	f.Fuzz(func(t *testing.T, cursor, owner string, limitByte uint8) {
		limit := int(limitByte) % 102 // 0 (the default) to 101 (one too many)
		p, err := svc.List(ctx, owner, limit, cursor)
		if err != nil {
			if ErrorCode(err) != EINVALID || ErrorMessage(err) == "" {
				t.Fatalf("List(%q, %d, %q): %v; want EINVALID with a message", owner, limit, cursor, err)
			}
			if cursor == "" && limit >= 1 && limit <= MaxPageSize {
				t.Fatalf("List(%q, %d) without a cursor failed: %v", owner, limit, err)
			}
			return
		}
		if limit > MaxPageSize {
			t.Fatalf("limit %d accepted", limit)
		}
		after := ""
		if cursor != "" {
			after, err = svc.decodeCursor(owner, cursor)
			if err != nil {
				t.Fatalf("List accepted cursor %q that does not decode: %v", cursor, err)
			}
			got, _ := base64.RawURLEncoding.DecodeString(cursor)
			want, _ := base64.RawURLEncoding.DecodeString(svc.encodeCursor(owner, after))
			if !bytes.Equal(got, want) {
				t.Fatalf("List accepted cursor %q, which is not one the service issues for %s", cursor, after)
			}
			for _, other := range []string{"alice", "bob", owner + "x"} {
				if other != owner {
					if _, err := svc.decodeCursor(other, cursor); err == nil {
						t.Fatalf("%s's cursor %q also decodes for %s", owner, cursor, other)
					}
				}
			}
		}
		for i, c := range p.Items {
			if c.Owner != owner {
				t.Fatalf("page for %q holds %s's conversation %s", owner, c.Owner, c.ID)
			}
			if after != "" && c.ID >= after {
				t.Fatalf("page after %s holds %s", after, c.ID)
			}
			if i > 0 && c.ID >= p.Items[i-1].ID {
				t.Fatalf("page not newest first: %s after %s", c.ID, p.Items[i-1].ID)
			}
		}
		if p.NextCursor != "" {
			last := p.Items[len(p.Items)-1].ID
			if got, err := svc.decodeCursor(owner, p.NextCursor); err != nil || got != last {
				t.Fatalf("next cursor decodes to %q, %v; want %s", got, err, last)
			}
			if _, err := svc.decodeCursor(owner+"\x00", p.NextCursor); err == nil {
				t.Fatalf("next cursor decodes for another owner")
			}
		}
	})
}

// TestCursorRoundTrip checks, for IDs across the whole time range, that a
// cursor decodes to the ID it was made from and only for its owner.
func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	svc := cursorService(t)
	for _, at := range []time.Time{time.UnixMilli(0), time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), time.UnixMilli(1<<48 - 1)} {
		id := NewID(at)
		c := svc.encodeCursor("alice", id)
		if got, err := svc.decodeCursor("alice", c); err != nil || got != id {
			t.Errorf("%s: decode = %q, %v", id, got, err)
		}
		if _, err := svc.decodeCursor("bob", c); ErrorCode(err) != EINVALID {
			t.Errorf("%s: alice's cursor for bob: %v, want EINVALID", id, err)
		}
	}
}
