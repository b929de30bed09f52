package httpapi

import (
	"fmt"
	"net/http"

	"recall/internal/recall"
)

// SearchItem is one conversation a search found: the conversation as GET
// returns it, its relevance in [0, 1] (it orders one search's items, it is
// not comparable across searches) and passages where the query matched.
type SearchItem struct {
	Conversation Conversation `json:"conversation"`
	Score        float64      `json:"score"`
	// Highlights are HTML-escaped text in which only <mark>…</mark> was
	// added around matched words, so a client may insert them as HTML;
	// [] when the match was in no stored text (a keyword's stem, say).
	Highlights []string `json:"highlights"`
}

// SearchList is one page of GET /api/search.
type SearchList struct {
	Items []SearchItem `json:"items"`
	// NextCursor is null on the last page.
	NextCursor *string `json:"next_cursor"`
}

// searchView renders one page of results.
func searchView(res recall.SearchResults) SearchList {
	out := SearchList{Items: make([]SearchItem, 0, len(res.Items))}
	for _, it := range res.Items {
		hl := it.Highlights
		if hl == nil {
			hl = []string{}
		}
		out.Items = append(out.Items, SearchItem{Conversation: View(it.Conversation), Score: it.Score, Highlights: hl})
	}
	if res.NextCursor != "" {
		out.NextCursor = new(res.NextCursor)
	}
	return out
}

// search serves GET /api/search?q=&limit=&cursor=. Items carry whole
// conversations, so a page of long ones can outgrow MaxListBytes; then the
// same search is asked again for as many items as fit, which gives a
// cursor that resumes right after them (the index's cursors are positions
// in its ranking, which the Service does not cut).
func (a *api) search(w http.ResponseWriter, r *http.Request) error {
	text, limit, cursor, err := searchQuery(r)
	if err != nil {
		return err
	}
	res, err := a.svc.Search(r.Context(), owner(r), text, limit, cursor)
	if err != nil {
		return err
	}
	out := searchView(res)
	body, fit, err := a.encodeSearch(out)
	if err != nil {
		return err
	}
	if fit < len(out.Items) {
		if res, err = a.svc.Search(r.Context(), owner(r), text, fit, cursor); err != nil {
			return err
		}
		if body, _, err = a.encodeSearch(searchView(res)); err != nil {
			return err
		}
	}
	writeRaw(w, http.StatusOK, body)
	return nil
}

// encodeSearch encodes page, each item once (pageBody), and counts how
// many of its items fit in MaxListBytes (at least one, so a client always
// moves forward).
func (a *api) encodeSearch(page SearchList) ([]byte, int, error) {
	items := make([][]byte, len(page.Items))
	size, fit := listEnvelopeBytes, 0
	for i, it := range page.Items {
		b, err := marshal(it)
		if err != nil {
			return nil, 0, fmt.Errorf("httpapi: encode %s: %w", it.Conversation.ID, err)
		}
		items[i] = b
		if fit == i && (fit == 0 || size+len(b) <= a.opts.MaxListBytes) {
			size += len(b)
			fit++
		}
	}
	next := ""
	if page.NextCursor != nil {
		next = *page.NextCursor
	}
	body, err := pageBody(items, next)
	if err != nil {
		return nil, 0, err
	}
	return body, fit, nil
}

// searchQuery reads q, limit and cursor, naming the parameter at fault.
// The query text itself is checked by the Service (recall.ParseQuery), so
// every way in refuses the same queries with the same words.
func searchQuery(r *http.Request) (text string, limit int, cursor string, err error) {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return "", 0, "", err
	}
	if !q.Has("q") {
		return "", 0, "", recall.Errorf(recall.EINVALID, "q is required: the words to look for, 1 to %d characters.", recall.MaxQueryLen)
	}
	if limit, err = limitParam(q, recall.DefaultSearchLimit, recall.MaxSearchLimit); err != nil {
		return "", 0, "", err
	}
	if q.Has("cursor") && q.Get("cursor") == "" {
		return "", 0, "", recall.Errorf(recall.EINVALID, "cursor is empty; leave it out for the first page.")
	}
	return q.Get("q"), limit, q.Get("cursor"), nil
}

// delete serves DELETE /api/conversations/{id}: 204 when it is gone,
// 404 when there was nothing of the caller's to delete (so a second
// delete is 404 too).
func (a *api) delete(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	setConversation(r, id)
	if err := a.svc.Delete(r.Context(), owner(r), id); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
