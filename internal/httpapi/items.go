package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"recall/internal/recall"
)

// ActionItem is an action item as clients see it: due is a calendar date
// ("2026-12-11") and done_at a time in RFC 3339, each null when unset.
type ActionItem struct {
	ID     string  `json:"id"`
	Text   string  `json:"text"`
	Owner  *string `json:"owner"`
	Due    *string `json:"due"`
	Done   bool    `json:"done"`
	DoneAt *string `json:"done_at"`
}

// ListedActionItem is an item of GET /api/action-items: the item and the
// conversation it comes from.
type ListedActionItem struct {
	ActionItem
	ConversationID    string `json:"conversation_id"`
	ConversationTitle string `json:"conversation_title"`
}

// ActionItemList is one page of GET /api/action-items.
type ActionItemList struct {
	Items []ListedActionItem `json:"items"`
	// NextCursor is null on the last page.
	NextCursor *string `json:"next_cursor"`
}

// ItemView renders it for clients.
func ItemView(it recall.ActionItem) ActionItem {
	v := ActionItem{ID: it.ID, Text: it.Text, Done: it.Done}
	if it.Owner != nil {
		v.Owner = new(*it.Owner)
	}
	if it.Due != nil {
		v.Due = new(it.Due.String())
	}
	if it.DoneAt != nil {
		v.DoneAt = new(timestamp(*it.DoneAt))
	}
	return v
}

// itemViews renders a conversation's items, [] when it has none.
func itemViews(items []recall.ActionItem) []ActionItem {
	out := make([]ActionItem, len(items))
	for i, it := range items {
		out[i] = ItemView(it)
	}
	return out
}

// itemParams are the query parameters GET /api/action-items reads. Any
// other is refused: a misspelt filter ("stauts=done") would otherwise
// answer with an unfiltered listing that looks like a filtered one.
var itemParams = []string{"status", "owner", "due_before", "due_after", "limit", "cursor"}

// listItems serves GET /api/action-items: the caller's action items across
// their conversations, open ones first by due date (undated last), then
// by when their conversation was posted.
func (a *api) listItems(w http.ResponseWriter, r *http.Request) error {
	f, err := itemFilter(r.URL.RawQuery)
	if err != nil {
		return err
	}
	page, err := a.svc.ListItems(r.Context(), owner(r), f)
	if err != nil {
		return err
	}
	out := ActionItemList{Items: make([]ListedActionItem, len(page.Items))}
	for i, li := range page.Items {
		out.Items[i] = ListedActionItem{ActionItem: ItemView(li.ActionItem), ConversationID: li.ConversationID, ConversationTitle: li.ConversationTitle}
	}
	if page.NextCursor != "" {
		out.NextCursor = new(page.NextCursor)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// itemFilter reads the listing's query string, naming the parameter at
// fault. The service checks what needs more than one parameter (a date
// range that is empty, a cursor from another listing).
func itemFilter(raw string) (recall.ItemFilter, error) {
	q, err := parseQuery(raw)
	if err != nil {
		return recall.ItemFilter{}, err
	}
	for k, v := range q {
		switch {
		case !slices.Contains(itemParams, k):
			return recall.ItemFilter{}, recall.Errorf(recall.EINVALID, "Unknown query parameter %q; the parameters are %s.", recall.Truncate(k, 40), strings.Join(itemParams, ", "))
		case len(v) > 1:
			return recall.ItemFilter{}, recall.Errorf(recall.EINVALID, "Query parameter %q is given %d times; give it once.", k, len(v))
		}
	}
	f := recall.ItemFilter{Status: recall.ItemsOpen, Owner: q.Get("owner"), Cursor: q.Get("cursor")}
	if q.Has("status") {
		switch st := recall.ItemStatus(q.Get("status")); st {
		case recall.ItemsOpen, recall.ItemsDone, recall.ItemsAll:
			f.Status = st
		default:
			return f, recall.Errorf(recall.EINVALID, "status must be open, done or all, not %q.", recall.Truncate(string(st), 20))
		}
	}
	if q.Has("owner") && recall.PersonKey(f.Owner) == "" {
		return f, recall.Errorf(recall.EINVALID, "owner must be a name of 1 to %d characters.", recall.MaxPersonChars)
	}
	for _, p := range []struct {
		name string
		dst  **recall.Date
	}{{"due_before", &f.DueBefore}, {"due_after", &f.DueAfter}} {
		if !q.Has(p.name) {
			continue
		}
		d, err := recall.ParseDate(q.Get(p.name))
		if err != nil || !d.Valid() {
			return f, recall.Errorf(recall.EINVALID, "%s must be a date written YYYY-MM-DD, not %q.", p.name, recall.Truncate(q.Get(p.name), 20))
		}
		*p.dst = &d
	}
	if f.Limit, err = limitParam(q, recall.DefaultItemPageSize, recall.MaxItemPageSize); err != nil {
		return f, err
	}
	if q.Has("cursor") && f.Cursor == "" {
		return f, recall.Errorf(recall.EINVALID, "cursor is empty; leave it out to start from the beginning.")
	}
	return f, nil
}

// MaxItemPatchBytes bounds the body of a PATCH of an action item, whose
// only field is done: anything larger is not such a body.
const MaxItemPatchBytes = 1024

// itemPatch is the body of PATCH …/action-items/{item_id}. Done stays raw
// so that null, a string or a number is refused by name, not read as false.
type itemPatch struct {
	Done json.RawMessage `json:"done"`
}

// patchItem serves PATCH /api/conversations/{id}/action-items/{item_id}:
// {"done": true} ticks the item off, {"done": false} opens it again, and
// the answer is the item as stored. Any other body is refused with 400
// naming what is wrong, and an item that is not the caller's is 404.
func (a *api) patchItem(w http.ResponseWriter, r *http.Request) error {
	id, itemID := r.PathValue("id"), r.PathValue("item_id")
	setConversation(r, id)
	if err := checkContentType(r); err != nil {
		return err
	}
	done, err := readItemPatch(r)
	if err != nil {
		return err
	}
	it, err := a.svc.SetItemDone(r.Context(), owner(r), id, itemID, done)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ItemView(it))
	return nil
}

// readItemPatch reads {"done": true|false} and nothing else.
func readItemPatch(r *http.Request) (bool, error) {
	const want = `send {"done": true} or {"done": false}`
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxItemPatchBytes+1))
	if err != nil {
		if isMaxBytes(err) {
			return false, recall.Errorf(recall.EINVALID, "The request body is larger than %d bytes; %s.", MaxItemPatchBytes, want)
		}
		return false, recall.Wrap(err, recall.EINVALID, "The request body could not be read.")
	}
	if len(body) > MaxItemPatchBytes {
		return false, recall.Errorf(recall.EINVALID, "The request body is larger than %d bytes; %s.", MaxItemPatchBytes, want)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return false, recall.Errorf(recall.EINVALID, "The request body is empty; %s.", want)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	var p itemPatch
	if err := dec.Decode(&p); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return false, recall.Errorf(recall.EINVALID, "Unknown field %s; the only field is done: %s.", recall.Truncate(strings.TrimPrefix(err.Error(), "json: unknown field "), 80), want)
		}
		return false, jsonError(err, dec, MaxItemPatchBytes)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return false, recall.Errorf(recall.EINVALID, "The request body has data after the JSON object, which ends at byte offset %d; send a single object.", dec.InputOffset())
	}
	var done *bool
	if len(p.Done) > 0 {
		if err := json.Unmarshal(p.Done, &done); err != nil {
			return false, recall.Errorf(recall.EINVALID, "Field \"done\" must be true or false, not %s.", recall.Truncate(string(p.Done), 40))
		}
	}
	if done == nil {
		return false, recall.Errorf(recall.EINVALID, "Field \"done\" is required; %s.", want)
	}
	return *done, nil
}
