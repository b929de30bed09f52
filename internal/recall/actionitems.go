package recall

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ItemStore is the part of Store that keeps action items listable across
// an owner's conversations. A conversation's items live in its record
// (Conversation.Items, written by EventDone with CarryDone); a store also
// keeps them in the order ListItems answers in, and keeps that order in
// step with every write to the record: the done transition, SetItemDone
// and Store.Delete, which removes them with the conversation. The shared
// store suite (recalltest) pins the answers down.
type ItemStore interface {
	// ListItems returns up to q.Limit of owner's action items that match q,
	// in SortKey order, starting after the item whose SortKey is q.After
	// ("" from the start). more is true when further items match.
	// EINVALID for a query Validate refuses.
	ListItems(ctx context.Context, owner string, q ItemQuery) (items []ListedItem, more bool, err error)

	// SetItemDone marks item itemID of owner's conversation convID done (at
	// time at) or open again (Conversation.SetItemDone's rule) and returns
	// the item as stored. ENOTFOUND when there is no such conversation or
	// no such item in it.
	SetItemDone(ctx context.Context, owner, convID, itemID string, done bool, at time.Time) (ActionItem, error)
}

// ItemRepairer is implemented by stores that cannot keep the item order in
// step with a conversation in one atomic write (DynamoDB, without
// transactions): a crash between their writes leaves a mark, and
// RepairItems finishes the work of marks older than before. The sweeper
// calls it on every pass, next to Stuck.
type ItemRepairer interface {
	RepairItems(ctx context.Context, before time.Time, limit int) (repaired int, err error)
}

// ItemStatus selects items by whether they are done.
type ItemStatus string

// The statuses a listing may ask for.
const (
	ItemsOpen ItemStatus = "open"
	ItemsDone ItemStatus = "done"
	ItemsAll  ItemStatus = "all"
)

// Limits of the action-item listing.
const (
	DefaultItemPageSize = 50
	MaxItemPageSize     = 100
	// MaxPersonChars bounds the owner a listing may filter by; an item
	// whose owner's PersonKey is longer than MaxPersonKeyBytes is listed,
	// but cannot be found by owner (no name is that long).
	MaxPersonChars    = 100
	MaxPersonKeyBytes = 400
)

// ItemQuery is what a listing of action items asks a store for. Owner,
// DueAfter and DueBefore narrow it; both date bounds are exclusive, and
// an item without a due date matches neither.
type ItemQuery struct {
	Status ItemStatus
	// Owner, if set, keeps only items whose owner has this PersonKey.
	Owner     string
	DueAfter  *Date
	DueBefore *Date
	// After is the SortKey of the last item of the previous page.
	After string
	Limit int
}

// Validate reports whether a store can answer q, naming what is wrong.
func (q ItemQuery) Validate() error {
	switch {
	case q.Status != ItemsOpen && q.Status != ItemsDone && q.Status != ItemsAll:
		return Errorf(EINVALID, "status must be open, done or all, not %q", Truncate(string(q.Status), 20))
	case q.Limit < 1 || q.Limit > MaxItemPageSize:
		return Errorf(EINVALID, "limit must be between 1 and %d", MaxItemPageSize)
	case q.Owner != "" && PersonKey(q.Owner) != q.Owner:
		return Errorf(EINVALID, "owner %q is not in its PersonKey form", Truncate(q.Owner, 40))
	case q.DueAfter != nil && !q.DueAfter.Valid(), q.DueBefore != nil && !q.DueBefore.Valid():
		return Errorf(EINVALID, "due dates must be real dates")
	case q.After != "" && !validSortKey(q.After):
		return Errorf(EINVALID, "the position to list after is not an item's sort key")
	}
	return nil
}

// ItemRange is a half-open range [Lo, Hi) of SortKeys.
type ItemRange struct{ Lo, Hi string }

// Ranges are the SortKey ranges q covers, in listing order, each starting
// after q.After: a store lists the first range, then the next, until it
// has q.Limit items. Both stores read them as they are, so the date and
// status rules are written once, here.
func (q ItemQuery) Ranges() []ItemRange {
	if q.Status == ItemsAll && q.DueAfter == nil && q.DueBefore == nil {
		// Every key: open ones ("O#…") then done ones ("X#…"), one range.
		r := ItemRange{Lo: sortOpen + "#", Hi: sortDone + "$"}
		if q.After != "" {
			r.Lo = q.After
		}
		return []ItemRange{r}
	}
	var statuses []string
	switch q.Status {
	case ItemsOpen:
		statuses = []string{sortOpen}
	case ItemsDone:
		statuses = []string{sortDone}
	default:
		statuses = []string{sortOpen, sortDone}
	}
	var out []ItemRange
	for _, st := range statuses {
		// "O#" starts every open key and "O$" ('#'+1) ends them; undated
		// keys ("O#~#…") sort after every date, so any date bound ends
		// the range before them.
		r := ItemRange{Lo: st + "#", Hi: st + "$"}
		if q.DueAfter != nil {
			r.Lo = st + "#" + q.DueAfter.AddDays(1).String()
			r.Hi = st + "#" + undatedKey
		}
		if q.DueBefore != nil {
			r.Hi = st + "#" + q.DueBefore.String()
		}
		if q.After != "" && q.After >= r.Lo {
			// After itself is excluded by the stores, which skip the key
			// equal to it.
			r.Lo = q.After
		}
		if r.Lo < r.Hi {
			out = append(out, r)
		}
	}
	return out
}

// ListedItem is an action item as the listing across conversations shows
// it: the item and where it comes from.
type ListedItem struct {
	ActionItem
	ConversationID    string
	ConversationTitle string
	// CreatedAt is when the conversation was posted and Position the
	// item's place among its items: with Done and Due they order the
	// listing (SortKey).
	CreatedAt time.Time
	Position  int
}

// The status parts of a SortKey: open items sort before done ones.
const (
	sortOpen   = "O"
	sortDone   = "X"
	undatedKey = "~" // after every digit, so undated items come last
	sortLayout = "2006-01-02T15:04:05.000000000Z"
)

// SortKey is the item's place in the listing: open before done, then by
// due date (undated last), then by when its conversation was posted, then
// by its place in the conversation. Its string order is that order, so a
// store can keep items under it and list a range with one read; it is
// also the position a listing cursor carries.
func (it ListedItem) SortKey() string {
	st := sortOpen
	if it.Done {
		st = sortDone
	}
	due := undatedKey
	if it.Due != nil {
		due = it.Due.String()
	}
	return st + "#" + due + "#" + it.CreatedAt.UTC().Format(sortLayout) + "#" + it.ConversationID + "#" + fmt.Sprintf("%04d", it.Position)
}

// validSortKey reports whether s has the form SortKey gives.
func validSortKey(s string) bool {
	p := strings.Split(s, "#")
	if len(p) != 5 || (p[0] != sortOpen && p[0] != sortDone) || !ValidID(p[3]) || len(p[4]) != 4 {
		return false
	}
	if p[1] != undatedKey {
		if d, err := ParseDate(p[1]); err != nil || d.String() != p[1] {
			return false
		}
	}
	if t, err := time.Parse(sortLayout, p[2]); err != nil || t.Format(sortLayout) != p[2] {
		return false
	}
	n, err := strconv.Atoi(p[4])
	return err == nil && n >= 0
}

// ListedItems are c's items as the listing holds them.
func ListedItems(c *Conversation) []ListedItem {
	out := make([]ListedItem, len(c.Items))
	for i, it := range c.Items {
		out[i] = ListedItem{ActionItem: it, ConversationID: c.ID, ConversationTitle: c.Title, CreatedAt: c.CreatedAt.UTC(), Position: i}
	}
	return out
}

// PersonKey is the form in which an item's owner is matched: without a
// leading "@", white space collapsed, lower-cased. "@Alice" and "alice"
// are one person; "Alice" and "Alice Smith" are not (nothing is guessed).
func PersonKey(name string) string {
	name = strings.TrimLeft(strings.TrimSpace(name), "@")
	return strings.ToLower(strings.Join(strings.Fields(name), " "))
}

// ItemPersonKey is the PersonKey an item is found under by owner, or ""
// when it has no owner (or one too long to be a name).
func ItemPersonKey(it ActionItem) string {
	if it.Owner == nil {
		return ""
	}
	k := PersonKey(*it.Owner)
	if len(k) > MaxPersonKeyBytes {
		return ""
	}
	return k
}

// SetItemDone marks c's item itemID done at at, or open again, and
// returns it and whether anything changed. Marking a done item done again
// keeps the time it was first done, so a retried request changes nothing.
// ENOTFOUND when c has no such item. Every store applies it, as it applies
// Apply.
func (c *Conversation) SetItemDone(itemID string, done bool, at time.Time) (ActionItem, bool, error) {
	for i := range c.Items {
		it := &c.Items[i]
		if it.ID != itemID {
			continue
		}
		if it.Done == done {
			return *it, false, nil
		}
		it.Done, it.DoneAt = done, nil
		if done {
			t := at.UTC()
			it.DoneAt = &t
		}
		return *it, true, nil
	}
	return ActionItem{}, false, Errorf(ENOTFOUND, "Conversation %s has no action item %q.", c.ID, Truncate(itemID, 40))
}

// ItemFilter is a listing of action items as a client asks for it.
type ItemFilter struct {
	Status    ItemStatus
	Owner     string
	DueAfter  *Date
	DueBefore *Date
	Limit     int
	Cursor    string
}

// ItemPage is one page of action items.
type ItemPage struct {
	Items      []ListedItem
	NextCursor string
}

// ListItems returns a page of owner's action items across their
// conversations. cursor is one returned by an earlier ListItems for the
// same owner and the same filter.
func (s *Service) ListItems(ctx context.Context, owner string, f ItemFilter) (ItemPage, error) {
	q := ItemQuery{Status: f.Status, Owner: PersonKey(f.Owner), DueAfter: f.DueAfter, DueBefore: f.DueBefore, Limit: f.Limit}
	if q.Status == "" {
		q.Status = ItemsOpen
	}
	if q.Limit == 0 {
		q.Limit = DefaultItemPageSize
	}
	if f.Owner != "" && (q.Owner == "" || utf8.RuneCountInString(f.Owner) > MaxPersonChars) {
		return ItemPage{}, Errorf(EINVALID, "owner must be a name of 1 to %d characters", MaxPersonChars)
	}
	if q.DueAfter != nil && q.DueBefore != nil && q.DueAfter.Compare(*q.DueBefore) >= 0 {
		return ItemPage{}, Errorf(EINVALID, "due_after (%s) must be before due_before (%s)", q.DueAfter, q.DueBefore)
	}
	if err := q.Validate(); err != nil {
		return ItemPage{}, err
	}
	sig := q.signature()
	if f.Cursor != "" {
		after, err := s.decodeItemCursor(owner, sig, f.Cursor)
		if err != nil {
			return ItemPage{}, err
		}
		q.After = after
	}
	items, more, err := s.cfg.Store.ListItems(ctx, owner, q)
	if err != nil {
		return ItemPage{}, storeErr(err, "list action items")
	}
	p := ItemPage{Items: items}
	if more && len(items) > 0 {
		p.NextCursor = s.encodeItemCursor(owner, sig, items[len(items)-1].SortKey())
	}
	return p, nil
}

// signature names what a listing selects, so its cursor is refused by a
// listing that selects something else.
func (q ItemQuery) signature() string {
	date := func(d *Date) string {
		if d == nil {
			return ""
		}
		return d.String()
	}
	return strings.Join([]string{"action-items", string(q.Status), q.Owner, date(q.DueAfter), date(q.DueBefore)}, "\x00")
}

// cursorMACLen is the length of the MAC that signs a search or item
// cursor (cursorMAC, searchMAC).
const cursorMACLen = 16

// signCursor is after behind mac, its MAC, in base64: the form of search
// and item cursors.
func signCursor(mac []byte, after string) string {
	return base64.RawURLEncoding.EncodeToString(append(mac, after...))
}

// openCursor returns what a signCursor cursor carries, and whether mac
// (the MAC the cursor's after must have) signs it.
func openCursor(cursor string, mac func(after string) []byte) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) <= cursorMACLen {
		return "", false
	}
	after := string(raw[cursorMACLen:])
	return after, hmac.Equal(raw[:cursorMACLen], mac(after))
}

// An item cursor is a MAC binding the owner and the listing's signature to
// the last SortKey of a page, then that key.
func (s *Service) encodeItemCursor(owner, sig, after string) string {
	return signCursor(s.cursorMAC(owner, sig+"\x00"+after), after)
}

func (s *Service) decodeItemCursor(owner, sig, cursor string) (string, error) {
	after, ok := openCursor(cursor, func(after string) []byte { return s.cursorMAC(owner, sig+"\x00"+after) })
	if !ok || !validSortKey(after) {
		return "", Errorf(EINVALID, "cursor is not valid for this listing; start again without it")
	}
	return after, nil
}

// SetItemDone marks item itemID of owner's conversation convID done or
// open again and returns it. ENOTFOUND for an ID of the wrong form, a
// conversation that is not owner's, or an item it does not have.
func (s *Service) SetItemDone(ctx context.Context, owner, convID, itemID string, done bool) (ActionItem, error) {
	if !ValidID(convID) {
		return ActionItem{}, Errorf(ENOTFOUND, "No conversation with id %q.", Truncate(convID, 40))
	}
	if !ValidItemID(itemID) {
		return ActionItem{}, Errorf(ENOTFOUND, "Conversation %s has no action item %q.", convID, Truncate(itemID, 40))
	}
	it, err := s.cfg.Store.SetItemDone(ctx, owner, convID, itemID, done, s.cfg.Now().UTC())
	if err != nil {
		return ActionItem{}, storeErr(err, "update the action item")
	}
	return it, nil
}

// repairItems lets a store that keeps the item order with several writes
// finish any a crash interrupted before before. A failure is only logged:
// the marks stay, and the next sweep tries again.
func (s *Service) repairItems(ctx context.Context, before time.Time) {
	r, ok := s.cfg.Store.(ItemRepairer)
	if !ok {
		return
	}
	n, err := r.RepairItems(ctx, before, 100)
	if err != nil {
		s.log.WarnContext(ctx, "repair of action items failed; the next sweep retries", "error", err.Error())
		return
	}
	if n > 0 {
		s.log.InfoContext(ctx, "repaired action items", "conversations", n)
	}
}
