package recalltest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/recall"
)

// Items runs the shared suite of action items (recall.ItemStore) against
// the stores open makes (as for Store: a new, empty store per subtest). It
// checks that the done transition stores an analysis's items and a
// reprocess keeps their ticks, that the listing across conversations
// answers in the documented order (written out here, not with SortKey)
// with every filter and page size, and that after every write the listing
// holds exactly the items the conversations hold.
func Items(t *testing.T, open func(t *testing.T) recall.Store) {
	t.Helper()
	runStoreCases(t, open, []storeCase{
		{"DoneStoresItems", itemsDoneStores},
		{"Order", itemsOrder},
		{"Filters", itemsFilters},
		{"SetDone", itemsSetDone},
		{"ReprocessKeepsTicks", itemsReprocess},
		{"Delete", itemsDelete},
		{"OwnerIsolation", itemsOwnerIsolation},
		{"ConcurrentTicks", itemsConcurrentTicks},
	})
}

// storeItems are the structured items of storeAnalysis(tag): one with an
// owner and a date, one with an owner only, one with neither.
func storeItems(tag string) []recall.ActionItem {
	due := recall.Date{Year: 2025, Month: time.March, Day: 21}
	return []recall.ActionItem{
		recall.NewActionItem("Write release notes ("+tag+")", "Bob", &due),
		recall.NewActionItem("Tag v1.2", "@Alice", nil),
		recall.NewActionItem("Book the retro room", "", nil),
	}
}

// diffItems says how got differs from want, times compared with Equal.
func diffItems(got, want []recall.ActionItem) string {
	str := func(items []recall.ActionItem) string {
		var b strings.Builder
		for _, it := range items {
			fmt.Fprintf(&b, "{%s %q owner=%s due=%s done=%v at=%s} ", it.ID, it.Text, deref(it.Owner), dueString(it.Due), it.Done, timeString(it.DoneAt))
		}
		return b.String()
	}
	if str(got) != str(want) {
		return fmt.Sprintf("got %s\n    want %s", str(got), str(want))
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func dueString(d *recall.Date) string {
	if d == nil {
		return "<nil>"
	}
	return d.String()
}

func timeString(t *time.Time) string {
	if t == nil {
		return "<nil>"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// date is a due date in March 2025 (day 0: none).
func date(day int) *recall.Date {
	if day == 0 {
		return nil
	}
	return &recall.Date{Year: 2025, Month: time.March, Day: day}
}

// analysed creates a conversation of owner at t0 and finishes its first
// run with items, returning it as stored.
func analysed(t *testing.T, s recall.Store, owner string, t0 time.Time, items ...recall.ActionItem) *recall.Conversation {
	t.Helper()
	c := mustCreateConv(t, s, NewConversation(owner, t0))
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: t0.Add(time.Second)})
	a := storeAnalysis("items")
	a.Items = items
	return mustTransitConv(t, s, c, recall.Transition{Event: recall.EventDone, At: t0.Add(2 * time.Second), Analysis: a})
}

// listAll pages through owner's listing for q with pages of size limit.
func listAll(t *testing.T, s recall.Store, owner string, q recall.ItemQuery, limit int) []recall.ListedItem {
	t.Helper()
	var all []recall.ListedItem
	q.Limit = limit
	for page := 0; ; page++ {
		items, more, err := s.ListItems(storeCtx(t), owner, q)
		if err != nil {
			t.Fatalf("ListItems(%s, %+v): %v", owner, q, err)
		}
		if len(items) > limit {
			t.Fatalf("ListItems returned %d items for a limit of %d", len(items), limit)
		}
		all = append(all, items...)
		if !more {
			return all
		}
		if len(items) == 0 || page > 1000 {
			t.Fatalf("ListItems says more but returned %d items (page %d)", len(items), page)
		}
		q.After = items[len(items)-1].SortKey()
	}
}

// wantListing is what the listing must hold for convs (as stored), in the
// documented order, written out here independently of SortKey: open before
// done; then by due date, undated last; then by the conversation's
// creation; then by place in the conversation.
func wantListing(convs []*recall.Conversation, keep func(recall.ActionItem) bool) []recall.ListedItem {
	var out []recall.ListedItem
	for _, c := range convs {
		for i, it := range c.Items {
			if keep == nil || keep(it) {
				out = append(out, recall.ListedItem{ActionItem: it, ConversationID: c.ID, ConversationTitle: c.Title, CreatedAt: c.CreatedAt, Position: i})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b recall.ListedItem) int {
		if a.Done != b.Done {
			if a.Done {
				return 1
			}
			return -1
		}
		switch {
		case a.Due == nil && b.Due != nil:
			return 1
		case a.Due != nil && b.Due == nil:
			return -1
		case a.Due != nil && b.Due != nil && a.Due.Compare(*b.Due) != 0:
			return a.Due.Compare(*b.Due)
		}
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Position, b.Position)
	})
	return out
}

// equalListing fails t unless got and want hold the same items in order.
func equalListing(t *testing.T, what string, got, want []recall.ListedItem) {
	t.Helper()
	line := func(li recall.ListedItem) string {
		return fmt.Sprintf("%s/%d %s %q %q created=%s", li.ConversationID, li.Position, diffItems(nil, []recall.ActionItem{li.ActionItem}), li.ConversationTitle, li.ID, li.CreatedAt.UTC().Format(time.RFC3339Nano))
	}
	var g, w []string
	for _, li := range got {
		g = append(g, line(li))
	}
	for _, li := range want {
		w = append(w, line(li))
	}
	if !slices.Equal(g, w) {
		t.Fatalf("%s: listing differs\n got (%d):\n  %s\n want (%d):\n  %s", what, len(g), strings.Join(g, "\n  "), len(w), strings.Join(w, "\n  "))
	}
}

// InStep fails t unless owner's whole listing (every status) holds exactly
// the items of the conversations ids, as Get reads them, in order.
func InStep(t *testing.T, s recall.Store, owner string, ids ...string) {
	t.Helper()
	var convs []*recall.Conversation
	for _, id := range ids {
		convs = append(convs, mustGetConv(t, s, owner, id))
	}
	equalListing(t, "listing against the conversations", listAll(t, s, owner, recall.ItemQuery{Status: recall.ItemsAll}, 7), wantListing(convs, nil))
}

func itemsDoneStores(t *testing.T, s recall.Store) {
	due := date(21)
	items := []recall.ActionItem{
		recall.NewActionItem("Send the deck to the board", "Alice", due),
		recall.NewActionItem("Fix the login bug", "", nil),
	}
	c := analysed(t, s, "alice", storeBase, items...)
	if diff := diffItems(c.Items, items); diff != "" {
		t.Fatalf("done answered items %s", diff)
	}
	if diff := diffItems(mustGetConv(t, s, "alice", c.ID).Items, items); diff != "" {
		t.Fatalf("Get after done: items %s", diff)
	}
	got := listAll(t, s, "alice", recall.ItemQuery{Status: recall.ItemsOpen}, 10)
	if len(got) != 2 || got[0].ConversationID != c.ID || got[0].ConversationTitle != c.Title || got[0].Text != items[0].Text || !got[0].CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("listing = %+v", got)
	}
	InStep(t, s, "alice", c.ID)

	// A conversation without items, and one still pending, list nothing.
	none := analysed(t, s, "alice", storeBase.Add(time.Minute))
	if len(none.Items) != 0 {
		t.Fatalf("an analysis without items stored %v", none.Items)
	}
	mustCreateConv(t, s, NewConversation("alice", storeBase.Add(2*time.Minute)))
	InStep(t, s, "alice", c.ID, none.ID)
	// A create never brings items, whatever it is given.
	given := NewConversation("alice", storeBase.Add(3*time.Minute))
	given.Items = items
	if got := mustCreateConv(t, s, given); len(got.Items) != 0 {
		t.Fatalf("Create kept items %v", got.Items)
	}
	InStep(t, s, "alice", c.ID, none.ID, given.ID)
}

// orderFixture makes alice's conversations whose items cover every part
// of the order: dates, undated, equal dates across conversations and
// within one, and done items.
func orderFixture(t *testing.T, s recall.Store) []*recall.Conversation {
	t.Helper()
	ni := recall.NewActionItem
	var convs []*recall.Conversation
	convs = append(convs, analysed(t, s, "alice", storeBase,
		ni("Undated first posted", "Bob", nil), ni("Due on the 14th", "alice", date(14)), ni("Due on the 20th", "", date(20)), ni("Also on the 14th", "Carol", date(14))))
	convs = append(convs, analysed(t, s, "alice", storeBase.Add(time.Hour),
		ni("Due on the 28th of February", "Bob", &recall.Date{Year: 2025, Month: time.February, Day: 28}), ni("Undated later", "", nil), ni("Due on the 14th too", "bob", date(14))))
	convs = append(convs, analysed(t, s, "alice", storeBase.Add(2*time.Hour),
		ni("Next year", "Dana", &recall.Date{Year: 2026, Month: time.January, Day: 2}), ni("Due on the 13th", "Bob", date(13))))
	// Some done: the listing moves them after every open one.
	for _, tick := range []struct{ c, i int }{{0, 1}, {1, 2}, {2, 0}} {
		c := convs[tick.c]
		if _, err := s.SetItemDone(storeCtx(t), "alice", c.ID, c.Items[tick.i].ID, true, storeAt(time.Duration(tick.c+10)*time.Hour)); err != nil {
			t.Fatalf("SetItemDone: %v", err)
		}
	}
	for i, c := range convs {
		convs[i] = mustGetConv(t, s, "alice", c.ID)
	}
	return convs
}

func itemsOrder(t *testing.T, s recall.Store) {
	convs := orderFixture(t, s)
	open := func(it recall.ActionItem) bool { return !it.Done }
	done := func(it recall.ActionItem) bool { return it.Done }
	for _, limit := range []int{1, 2, 3, 100} {
		equalListing(t, fmt.Sprintf("open, pages of %d", limit), listAll(t, s, "alice", recall.ItemQuery{Status: recall.ItemsOpen}, limit), wantListing(convs, open))
		equalListing(t, fmt.Sprintf("done, pages of %d", limit), listAll(t, s, "alice", recall.ItemQuery{Status: recall.ItemsDone}, limit), wantListing(convs, done))
		equalListing(t, fmt.Sprintf("all, pages of %d", limit), listAll(t, s, "alice", recall.ItemQuery{Status: recall.ItemsAll}, limit), wantListing(convs, nil))
	}
	// The first open item is the earliest date; the last open items are
	// the undated ones, first posted first.
	got := listAll(t, s, "alice", recall.ItemQuery{Status: recall.ItemsOpen}, 100)
	if got[0].Text != "Due on the 28th of February" || got[len(got)-2].Text != "Undated first posted" || got[len(got)-1].Text != "Undated later" {
		t.Fatalf("open order: first %q, last two %q, %q", got[0].Text, got[len(got)-2].Text, got[len(got)-1].Text)
	}
	// A page that ends exactly at the last item says so.
	items, more, err := s.ListItems(storeCtx(t), "alice", recall.ItemQuery{Status: recall.ItemsOpen, Limit: len(got)})
	if err != nil || len(items) != len(got) || more {
		t.Fatalf("a page of exactly all: %d items, more %v, %v", len(items), more, err)
	}
	// Bad queries are refused, not answered.
	for _, q := range []recall.ItemQuery{
		{Status: "later", Limit: 10}, {Status: recall.ItemsOpen}, {Status: recall.ItemsOpen, Limit: recall.MaxItemPageSize + 1},
		{Status: recall.ItemsOpen, Limit: 10, After: "not a key"}, {Status: recall.ItemsOpen, Limit: 10, Owner: "Bob"},
	} {
		_, _, err := s.ListItems(storeCtx(t), "alice", q)
		WantCode(t, err, recall.EINVALID)
	}
}

func itemsFilters(t *testing.T, s recall.Store) {
	convs := orderFixture(t, s)
	owned := func(name string) func(recall.ActionItem) bool {
		return func(it recall.ActionItem) bool {
			return it.Owner != nil && strings.EqualFold(strings.TrimPrefix(*it.Owner, "@"), name)
		}
	}
	between := func(after, before *recall.Date) func(recall.ActionItem) bool {
		return func(it recall.ActionItem) bool {
			return !it.Done && it.Due != nil && (after == nil || it.Due.Compare(*after) > 0) && (before == nil || it.Due.Compare(*before) < 0)
		}
	}
	for _, tt := range []struct {
		name string
		q    recall.ItemQuery
		keep func(recall.ActionItem) bool
	}{
		{"owner bob, any case", recall.ItemQuery{Status: recall.ItemsAll, Owner: "bob"}, owned("bob")},
		{"owner alice, done only", recall.ItemQuery{Status: recall.ItemsDone, Owner: "alice"}, func(it recall.ActionItem) bool { return it.Done && owned("alice")(it) }},
		{"nobody called so", recall.ItemQuery{Status: recall.ItemsAll, Owner: "bo"}, func(recall.ActionItem) bool { return false }},
		{"due after the 13th", recall.ItemQuery{Status: recall.ItemsOpen, DueAfter: date(13)}, between(date(13), nil)},
		{"due before the 14th", recall.ItemQuery{Status: recall.ItemsOpen, DueBefore: date(14)}, between(nil, date(14))},
		{"due on the 14th only", recall.ItemQuery{Status: recall.ItemsOpen, DueAfter: date(13), DueBefore: date(15)}, between(date(13), date(15))},
		{"nothing between", recall.ItemQuery{Status: recall.ItemsOpen, DueAfter: date(14), DueBefore: date(15)}, between(date(14), date(15))},
		{"bob's before the 14th", recall.ItemQuery{Status: recall.ItemsOpen, Owner: "bob", DueBefore: date(14)}, func(it recall.ActionItem) bool { return between(nil, date(14))(it) && owned("bob")(it) }},
	} {
		for _, limit := range []int{1, 100} {
			equalListing(t, fmt.Sprintf("%s, pages of %d", tt.name, limit), listAll(t, s, "alice", tt.q, limit), wantListing(convs, tt.keep))
		}
	}
}

func itemsSetDone(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	c := analysed(t, s, "alice", storeBase, storeItems("tick")...)
	other := analysed(t, s, "alice", storeBase.Add(time.Minute), storeItems("other")...)
	id := c.Items[0].ID
	at := storeAt(time.Hour + 7)
	it, err := s.SetItemDone(ctx, "alice", c.ID, id, true, at)
	if err != nil || !it.Done || it.DoneAt == nil || !it.DoneAt.Equal(at) || it.ID != id || it.Text != c.Items[0].Text {
		t.Fatalf("SetItemDone(done) = %+v, %v", it, err)
	}
	// Again: nothing changes, the first time stays.
	if it, err := s.SetItemDone(ctx, "alice", c.ID, id, true, at.Add(time.Hour)); err != nil || !it.DoneAt.Equal(at) {
		t.Fatalf("SetItemDone(done) again = %+v, %v; want done at %s", it, err, at)
	}
	got := mustGetConv(t, s, "alice", c.ID)
	if !got.Items[0].Done || !got.Items[0].DoneAt.Equal(at) || got.Items[1].Done || got.Status != recall.StatusDone {
		t.Fatalf("after the tick the conversation holds %s", diffItems(got.Items, nil))
	}
	InStep(t, s, "alice", c.ID, other.ID)
	if open := listAll(t, s, "alice", recall.ItemQuery{Status: recall.ItemsOpen}, 10); slices.ContainsFunc(open, func(li recall.ListedItem) bool { return li.ID == id && li.ConversationID == c.ID }) {
		t.Fatalf("the ticked item is still listed as open")
	}
	// Open again: done_at goes.
	if it, err := s.SetItemDone(ctx, "alice", c.ID, id, false, at.Add(2*time.Hour)); err != nil || it.Done || it.DoneAt != nil {
		t.Fatalf("SetItemDone(open) = %+v, %v", it, err)
	}
	InStep(t, s, "alice", c.ID, other.ID)
	// Missing things are not found, and nothing changes.
	for _, tt := range []struct{ owner, conv, item string }{
		{"alice", c.ID, recall.ItemID("no such task")},
		{"alice", recall.NewID(storeBase), id},
		{"bob", c.ID, id},
	} {
		_, err := s.SetItemDone(ctx, tt.owner, tt.conv, tt.item, true, at)
		WantCode(t, err, recall.ENOTFOUND)
	}
	InStep(t, s, "alice", c.ID, other.ID)
}

func itemsReprocess(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	ni := recall.NewActionItem
	c := analysed(t, s, "alice", storeBase, ni("Send the deck", "Alice", date(14)), ni("Fix the build", "", nil), ni("Call the venue", "Bob", nil))
	at := storeAt(time.Hour)
	for _, i := range []int{0, 1} {
		if _, err := s.SetItemDone(ctx, "alice", c.ID, c.Items[i].ID, true, at); err != nil {
			t.Fatal(err)
		}
	}
	c = mustTransitConv(t, s, mustGetConv(t, s, "alice", c.ID), recall.Transition{Event: recall.EventReprocess, At: storeAt(2 * time.Hour)})
	// While the new run is on its way the items stay, ticks and all, and
	// can still be ticked.
	if len(c.Items) != 3 || !c.Items[0].Done {
		t.Fatalf("reprocess answered items %s", diffItems(c.Items, nil))
	}
	if _, err := s.SetItemDone(ctx, "alice", c.ID, c.Items[1].ID, false, storeAt(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	InStep(t, s, "alice", c.ID)
	c = mustTransitConv(t, s, mustGetConv(t, s, "alice", c.ID), recall.Transition{Event: recall.EventStart, At: storeAt(3 * time.Hour)})
	// A failed run keeps them too.
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventFail, At: storeAt(3*time.Hour + 1), Reason: "model down"})
	if len(c.Items) != 3 || !c.Items[0].Done || c.Items[1].Done {
		t.Fatalf("a failed run answered items %s", diffItems(c.Items, nil))
	}
	InStep(t, s, "alice", c.ID)

	// The next analysis finds the deck again (reworded only in case and
	// punctuation), a changed build task, and a new task: the deck keeps
	// its tick and its time, the others are open, the venue is gone.
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventReprocess, At: storeAt(4 * time.Hour)})
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventStart, At: storeAt(4*time.Hour + 1)})
	a := storeAnalysis("again")
	a.Items = []recall.ActionItem{ni("send the deck!", "Alice", date(15)), ni("Fix the build on CI", "", nil), ni("Order lunch", "Carol", date(14))}
	c = mustTransitConv(t, s, c, recall.Transition{Event: recall.EventDone, At: storeAt(4*time.Hour + 2), Analysis: a})
	if !c.Items[0].Done || !c.Items[0].DoneAt.Equal(at) || c.Items[1].Done || c.Items[2].Done || len(c.Items) != 3 {
		t.Fatalf("after the new analysis: %s", diffItems(c.Items, nil))
	}
	InStep(t, s, "alice", c.ID)
	// The deck's new due date moved it in the listing.
	done := listAll(t, s, "alice", recall.ItemQuery{Status: recall.ItemsDone}, 10)
	if len(done) != 1 || done[0].Due.String() != "2025-03-15" || done[0].Text != "send the deck!" {
		t.Fatalf("done listing = %+v", done)
	}
}

// itemsDelete checks that Store.Delete takes a conversation's items out of
// the listing with it, ticked or not, and leaves everyone else's.
func itemsDelete(t *testing.T, s recall.Store) {
	ctx := storeCtx(t)
	c := analysed(t, s, "alice", storeBase, storeItems("gone")...)
	kept := analysed(t, s, "alice", storeBase.Add(time.Minute), storeItems("kept")...)
	bobs := analysed(t, s, "bob", storeBase, storeItems("bob")...)
	if _, err := s.SetItemDone(ctx, "alice", c.ID, c.Items[0].ID, true, storeAt(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Someone else's: not found, and nothing of it goes.
	_, err := s.Delete(ctx, "bob", c.ID)
	WantCode(t, err, recall.ENOTFOUND)
	InStep(t, s, "alice", c.ID, kept.ID)

	if _, err := s.Delete(ctx, "alice", c.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, st := range []recall.ItemStatus{recall.ItemsOpen, recall.ItemsDone, recall.ItemsAll} {
		for _, li := range listAll(t, s, "alice", recall.ItemQuery{Status: st}, 10) {
			if li.ConversationID == c.ID {
				t.Fatalf("%s listing still holds %q of the deleted conversation", st, li.Text)
			}
		}
	}
	for _, q := range []recall.ItemQuery{{Status: recall.ItemsAll, Owner: "alice"}, {Status: recall.ItemsAll, Owner: "bob"}} {
		for _, li := range listAll(t, s, "alice", q, 10) {
			if li.ConversationID == c.ID {
				t.Fatalf("listing by owner %s still holds %q of the deleted conversation", q.Owner, li.Text)
			}
		}
	}
	_, err = s.SetItemDone(ctx, "alice", c.ID, c.Items[1].ID, true, storeAt(2*time.Hour))
	WantCode(t, err, recall.ENOTFOUND)
	InStep(t, s, "alice", kept.ID)
	InStep(t, s, "bob", bobs.ID)
}

func itemsOwnerIsolation(t *testing.T, s recall.Store) {
	a := analysed(t, s, "alice", storeBase, storeItems("a")...)
	b := analysed(t, s, "alice2", storeBase.Add(time.Second), storeItems("b")...)
	for _, owner := range []string{"bob", "alic", "", "alice\x00"} {
		if got := listAll(t, s, owner, recall.ItemQuery{Status: recall.ItemsAll}, 10); len(got) != 0 {
			t.Fatalf("%q sees %d items of others", owner, len(got))
		}
		if got := listAll(t, s, owner, recall.ItemQuery{Status: recall.ItemsAll, Owner: "bob"}, 10); len(got) != 0 {
			t.Fatalf("%q sees %d of others' items owned by bob", owner, len(got))
		}
	}
	InStep(t, s, "alice", a.ID)
	InStep(t, s, "alice2", b.ID)
}

// itemsConcurrentTicks ticks every item of one conversation at once, from
// as many goroutines: each tick reads and writes the whole record, and
// none may be lost, in the conversation or in the listing.
func itemsConcurrentTicks(t *testing.T, s recall.Store) {
	var items []recall.ActionItem
	for i := range 8 {
		items = append(items, recall.NewActionItem(fmt.Sprintf("Task number %d", i), fmt.Sprint("person ", i%3), date(10+i%4)))
	}
	c := analysed(t, s, "alice", storeBase, items...)
	var wg sync.WaitGroup
	errs := make(chan error, len(items))
	for i, it := range c.Items {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// A conflict after the store's own retries may be answered;
			// the caller retries, as a client would.
			for range 20 {
				_, err := s.SetItemDone(ctx, "alice", c.ID, it.ID, true, storeAt(time.Duration(i)*time.Second))
				if recall.ErrorCode(err) != recall.ECONFLICT {
					errs <- err
					return
				}
			}
			errs <- fmt.Errorf("item %d: still conflicting after 20 tries", i)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := mustGetConv(t, s, "alice", c.ID)
	for i, it := range got.Items {
		if !it.Done {
			t.Fatalf("item %d lost its tick: %s", i, diffItems(got.Items, nil))
		}
	}
	InStep(t, s, "alice", c.ID)
}
