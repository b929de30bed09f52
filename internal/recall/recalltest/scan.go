package recalltest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"recall/internal/recall"
)

// Scanner runs the shared suite for recall.Scanner. open is called once per
// subtest and must return a new, empty store that also implements
// recall.Scanner.
//
// The suite checks that every filter returns exactly its matches, each once,
// across pages of any size; that ScanCursor resumes just after an item in
// the middle of a page; that owners whose names share a prefix stay apart;
// and that a cursor the store did not make is EINVALID.
func Scanner(t *testing.T, open func(t *testing.T) recall.Store) {
	t.Helper()
	scanner := func(t *testing.T) recall.Store {
		s := open(t)
		if _, ok := s.(recall.Scanner); !ok {
			t.Fatalf("%T does not implement recall.Scanner", s)
		}
		return s
	}
	runStoreCases(t, scanner, []storeCase{
		{"Filters", scanFilters},
		{"ResumeMidPage", scanResumeMidPage},
		{"Errors", scanErrors},
	})
}

// scanSeed stores conversations of three owners ("al" and "alice" share a
// prefix) in every final status, changed at different times, and returns
// them as stored.
func scanSeed(t *testing.T, s recall.Store) []*recall.Conversation {
	t.Helper()
	var all []*recall.Conversation
	owners := []string{"alice", "al", "bob"}
	statuses := []recall.Status{recall.StatusPending, recall.StatusProcessing, recall.StatusDone, recall.StatusFailed}
	for i := range 22 {
		owner := owners[i%len(owners)]
		at := storeAt(time.Duration(i) * time.Second)
		c := mustCreateConv(t, s, NewConversation(owner, at))
		switch statuses[i%len(statuses)] {
		case recall.StatusProcessing:
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: at.Add(time.Millisecond)})
		case recall.StatusDone:
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: at.Add(time.Millisecond)})
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventDone, At: at.Add(2 * time.Millisecond), Analysis: storeAnalysis("scan")})
		case recall.StatusFailed:
			c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventFail, At: at.Add(3 * time.Millisecond), Reason: "model access"})
		}
		all = append(all, c)
	}
	return all
}

// ScanAll walks a whole scan with pages of limit and returns every item,
// failing t on a page larger than limit or a scan that does not end.
func ScanAll(t *testing.T, s recall.Scanner, f recall.ScanFilter, cursor string, limit int) []*recall.Conversation {
	t.Helper()
	var all []*recall.Conversation
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("Scan(%+v): more than 1000 pages", f)
		}
		p, err := s.Scan(storeCtx(t), f, cursor, limit)
		if err != nil {
			t.Fatalf("Scan(%+v, cursor %q): %v", f, cursor, err)
		}
		if len(p.Items) > limit {
			t.Fatalf("Scan returned %d items for limit %d", len(p.Items), limit)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		if p.Next == cursor {
			t.Fatalf("Scan returned its own cursor %q as next: it would never end", cursor)
		}
		cursor = p.Next
	}
}

func scanIDs(cs []*recall.Conversation) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.Owner + "/" + c.ID
	}
	slices.Sort(ids)
	return ids
}

func scanFilters(t *testing.T, s recall.Store) {
	all := scanSeed(t, s)
	sc := s.(recall.Scanner)
	byID := map[string]*recall.Conversation{}
	for _, c := range all {
		byID[c.ID] = c
	}
	since := storeAt(10 * time.Second)
	filters := []struct {
		name string
		f    recall.ScanFilter
	}{
		{"everything", recall.ScanFilter{}},
		{"failed", recall.ScanFilter{Status: recall.StatusFailed}},
		{"done", recall.ScanFilter{Status: recall.StatusDone}},
		{"owner al", recall.ScanFilter{Owner: "al"}},
		{"owner alice failed", recall.ScanFilter{Owner: "alice", Status: recall.StatusFailed}},
		{"nobody", recall.ScanFilter{Owner: "carol"}},
		{"since", recall.ScanFilter{Since: since}},
		// A bound inside a second the stores hold with nanoseconds: one
		// nanosecond after an item's change excludes it.
		{"since exact", recall.ScanFilter{Since: all[15].UpdatedAt.Add(time.Nanosecond)}},
		{"failed since", recall.ScanFilter{Status: recall.StatusFailed, Since: since}},
	}
	for _, tt := range filters {
		var want []*recall.Conversation
		for _, c := range all {
			if tt.f.Match(c) {
				want = append(want, c)
			}
		}
		for _, limit := range []int{1, 3, 100} {
			got := ScanAll(t, sc, tt.f, "", limit)
			if g, w := scanIDs(got), scanIDs(want); !slices.Equal(g, w) {
				t.Errorf("%s, limit %d: Scan =\n%s\nwant\n%s", tt.name, limit, strings.Join(g, "\n"), strings.Join(w, "\n"))
				continue
			}
			for _, c := range got {
				w := byID[c.ID]
				if c.Owner != w.Owner || c.Run != w.Run || c.Priority != w.Priority || c.Status != w.Status ||
					!c.CreatedAt.Equal(w.CreatedAt) || !c.UpdatedAt.Equal(w.UpdatedAt) {
					t.Errorf("%s: Scan item %+v\ndiffers from stored %+v", tt.name, c, w)
				}
			}
		}
	}
	if n := len(ScanAll(t, sc, recall.ScanFilter{Status: recall.StatusFailed}, "", 100)); n == 0 {
		t.Fatal("the seed holds no failed conversation; the suite tests nothing")
	}
}

func scanResumeMidPage(t *testing.T, s recall.Store) {
	all := scanSeed(t, s)
	sc := s.(recall.Scanner)
	for _, f := range []recall.ScanFilter{{}, {Owner: "bob"}, {Status: recall.StatusDone}} {
		full := ScanAll(t, sc, f, "", 100)
		if len(full) < 3 {
			t.Fatalf("filter %+v matches %d of %d; need 3", f, len(full), len(all))
		}
		// Stop after the second item of a page, as an interrupted caller
		// would, and resume from that item's cursor.
		p, err := sc.Scan(storeCtx(t), f, "", 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) < 2 {
			t.Fatalf("filter %+v: first page of 4 has %d items", f, len(p.Items))
		}
		seen := p.Items[:2]
		rest := ScanAll(t, sc, f, sc.ScanCursor(p.Items[1]), 2)
		if g, w := scanIDs(append(slices.Clone(seen), rest...)), scanIDs(full); !slices.Equal(g, w) {
			t.Errorf("filter %+v: two items then a resume from ScanCursor =\n%s\nwant\n%s", f, strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	}
}

func scanErrors(t *testing.T, s recall.Store) {
	scanSeed(t, s)
	sc := s.(recall.Scanner)
	_, err := sc.Scan(storeCtx(t), recall.ScanFilter{}, "", 0)
	WantCode(t, err, recall.EINVALID)
	for _, cursor := range []string{"not a cursor!", "zz", "%%%"} {
		_, err := sc.Scan(storeCtx(t), recall.ScanFilter{}, cursor, 10)
		WantCode(t, err, recall.EINVALID)
	}
}
