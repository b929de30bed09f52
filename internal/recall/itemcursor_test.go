package recall

import (
	"context"
	"slices"
	"strings"
	"time"
)

// ListItems lists the items given to the listStore (sorted by SortKey) as
// the ItemStore contract says, reading q.Ranges as the real stores do: a
// third reading of the ranges, in memory, for the cursor tests here.
func (s *listStore) ListItems(_ context.Context, owner string, q ItemQuery) ([]ListedItem, bool, error) {
	if err := q.Validate(); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ListedItem
	for _, r := range q.Ranges() {
		for _, it := range s.items[owner] {
			k := it.SortKey()
			if k < r.Lo || k >= r.Hi || k == q.After || (q.Owner != "" && ItemPersonKey(it.ActionItem) != q.Owner) {
				continue
			}
			if len(out) == q.Limit {
				return out, true, nil
			}
			out = append(out, it)
		}
	}
	return out, false, nil
}

func (s *listStore) SetItemDone(context.Context, string, string, string, bool, time.Time) (ActionItem, error) {
	return ActionItem{}, Errorf(ENOTFOUND, "not used by listings")
}

// addItems gives owner's listing the items of c.
func (s *listStore) addItems(c *Conversation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.items == nil {
		s.items = map[string][]ListedItem{}
	}
	s.items[c.Owner] = append(s.items[c.Owner], ListedItems(c)...)
	slices.SortFunc(s.items[c.Owner], func(a, b ListedItem) int { return strings.Compare(a.SortKey(), b.SortKey()) })
}
