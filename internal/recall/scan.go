package recall

import (
	"context"
	"time"
)

// Scanner is implemented by stores that can walk every conversation across
// owners, for operator backfills such as `recall reprocess`. It is kept out
// of Store on purpose: no request path may depend on a scan of the whole
// store, and a store that cannot scan cheaply need not pretend to.
//
// A scan is not a snapshot: conversations created or changed while it runs
// may or may not be returned. Each conversation present for the whole scan
// is returned exactly once when the scan is resumed with the cursors it
// hands out.
type Scanner interface {
	// Scan returns up to limit conversations matching f, in the store's own
	// order, starting after cursor ("" from the start). Next resumes after
	// the page and is "" once the scan is over; a page may hold fewer than
	// limit items, even none, while Next is not empty (a store that filters
	// after reading stops a page at its read budget). Items carry at least
	// ID, Owner, Run, Priority, Status, CreatedAt and UpdatedAt; Content may
	// be empty. EINVALID for a cursor the store did not make.
	Scan(ctx context.Context, f ScanFilter, cursor string, limit int) (ScanPage, error)

	// ScanCursor returns the cursor that resumes a scan just after c (one
	// returned by Scan), so a caller that stops part-way through a page can
	// checkpoint exactly where it stopped rather than redo the page.
	ScanCursor(c *Conversation) string
}

// ScanFilter selects conversations for a Scan. The zero value matches every
// conversation.
type ScanFilter struct {
	// Status, if set, keeps only conversations in that state.
	Status Status `json:"status,omitempty"`
	// Owner, if set, keeps only that owner's conversations.
	Owner string `json:"owner,omitempty"`
	// Since, if set, keeps only conversations last changed (UpdatedAt) at
	// or after it: for a failed conversation, when it failed.
	Since time.Time `json:"since,omitzero"`
}

// Match reports whether c passes f. Stores that cannot express part of a
// filter in their query apply it with Match after reading.
func (f ScanFilter) Match(c *Conversation) bool {
	if f.Status != "" && c.Status != f.Status {
		return false
	}
	if f.Owner != "" && c.Owner != f.Owner {
		return false
	}
	if !f.Since.IsZero() && c.UpdatedAt.Before(f.Since) {
		return false
	}
	return true
}

// ScanPage is one page of a Scan.
type ScanPage struct {
	Items []*Conversation
	// Next resumes after this page; "" when the scan is over.
	Next string
}
