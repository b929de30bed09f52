package recall

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"sync"
)

// SearchResult is one conversation a search found, as Get returns it.
type SearchResult struct {
	Conversation *Conversation
	// Score and Highlights are the index's (see SearchHit).
	Score      float64
	Highlights []string
}

// SearchResults is one page of a search.
type SearchResults struct {
	Items []SearchResult
	// NextCursor resumes the same search after this page; "" on the last.
	NextCursor string
}

// Search returns a page of owner's conversations matching text (see
// ParseQuery for the language), best first, each loaded from the store so
// it shows as Get shows it. A hit the store no longer has (deleted since
// it was indexed) is left out, and its entry removed, so a page may hold
// fewer than limit items while NextCursor is set.
//
// limit is 1 to MaxSearchLimit (0: DefaultSearchLimit). cursor is one an
// earlier page of the same search by the same owner returned: it is the
// index's cursor signed with the owner and the query, so it can be neither
// forged nor used by another owner or for another query.
//
// EINVALID (naming q, limit or cursor) for bad input; EUNSUPPORTED when
// the deployment has no index; EUNAVAILABLE when the index or the store
// fails.
func (s *Service) Search(ctx context.Context, owner, text string, limit int, cursor string) (SearchResults, error) {
	if _, err := ParseQuery(text); err != nil {
		return SearchResults{}, err
	}
	if limit == 0 {
		limit = DefaultSearchLimit
	}
	if limit < 1 || limit > MaxSearchLimit {
		return SearchResults{}, Errorf(EINVALID, "limit must be between 1 and %d", MaxSearchLimit)
	}
	after := ""
	if cursor != "" {
		var err error
		if after, err = s.decodeSearchCursor(owner, text, cursor); err != nil {
			return SearchResults{}, err
		}
	}
	if s.cfg.Index == nil {
		return SearchResults{}, Errorf(EUNSUPPORTED, "Search is not configured on this deployment: it has no search index.")
	}
	page, err := s.cfg.Index.Search(ctx, owner, SearchQuery{Text: text, Limit: limit, After: after})
	if err != nil {
		return SearchResults{}, indexErr(err)
	}
	items, err := s.load(ctx, owner, page.Hits)
	if err != nil {
		return SearchResults{}, err
	}
	res := SearchResults{Items: items}
	if page.Next != "" {
		res.NextCursor = s.encodeSearchCursor(owner, text, page.Next)
	}
	return res, nil
}

// indexErr is storeErr for the index: its own domain errors pass, anything
// else means it is unavailable.
func indexErr(err error) error {
	return unavailable(err, "The search index is unavailable; retry shortly.")
}

// loadWorkers bounds the concurrent store reads of one page of hits: a
// remote store answers a page in about one round trip instead of fifty.
const loadWorkers = 8

// load reads each hit's conversation, keeping the hits' order and leaving
// out those the store does not have (and their index entries).
func (s *Service) load(ctx context.Context, owner string, hits []SearchHit) ([]SearchResult, error) {
	convs := make([]*Conversation, len(hits))
	errs := make([]error, len(hits))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(loadWorkers, len(hits)) {
		wg.Go(func() {
			for i := range next {
				convs[i], errs[i] = s.cfg.Store.Get(ctx, owner, hits[i].ID)
			}
		})
	}
	for i := range hits {
		next <- i
	}
	close(next)
	wg.Wait()
	out := make([]SearchResult, 0, len(hits))
	for i, h := range hits {
		switch err := errs[i]; {
		case ErrorCode(err) == ENOTFOUND:
			s.forget(ctx, &Conversation{ID: h.ID, Owner: owner})
		case err != nil:
			return nil, storeErr(err, "read the conversations found")
		default:
			out = append(out, SearchResult{Conversation: convs[i], Score: h.Score, Highlights: h.Highlights})
		}
	}
	return out, nil
}

// A search cursor is the index's cursor after an HMAC that binds it to the
// owner and the query text, under a label that keeps it apart from list
// cursors.
func (s *Service) encodeSearchCursor(owner, text, after string) string {
	return signCursor(s.searchMAC(owner, text, after), after)
}

func (s *Service) decodeSearchCursor(owner, text, cursor string) (string, error) {
	after, ok := openCursor(cursor, func(after string) []byte { return s.searchMAC(owner, text, after) })
	if !ok {
		return "", Errorf(EINVALID, "cursor is not valid for this search; start again without it")
	}
	return after, nil
}

func (s *Service) searchMAC(owner, text, after string) []byte {
	m := hmac.New(sha256.New, s.cfg.CursorKey)
	for _, part := range []string{"search", owner, text, after} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return m.Sum(nil)[:cursorMACLen]
}
