package httpapi

import (
	"time"
	"unicode/utf8"

	"recall/internal/recall"
)

// Conversation is a conversation as clients see it. It is a separate type
// from recall.Conversation so that internal fields (owner, run) never leak
// and the public names and null-versus-empty rules stay fixed whatever the
// domain type does.
type Conversation struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Content   string `json:"content"`
	PostType  string `json:"post_type"`
	Priority  string `json:"priority"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	// AIStatus is pending, processing, done or failed.
	AIStatus    string `json:"ai_status"`
	AIProcessed bool   `json:"ai_processed"`
	// AISummary is null until the analysis is done.
	AISummary *string `json:"ai_summary"`
	// AIActionItems and AIKeywords are [] until done, never null.
	AIActionItems []string `json:"ai_action_items"`
	AIKeywords    []string `json:"ai_keywords"`
	// ActionItems are the structured action items, each with its id for
	// PATCH …/action-items/{item_id}: [] until an analysis brings them,
	// and kept, with their ticks, while a reprocess runs.
	ActionItems []ActionItem `json:"action_items"`
	// AIError is the last attempt's failure, or null.
	AIError *string `json:"ai_error"`
	AIModel *string `json:"ai_model"`
	AIUsage Usage   `json:"ai_usage"`
	// AIAttempts counts the attempts of the current analysis run.
	AIAttempts  int     `json:"ai_attempts"`
	ProcessedAt *string `json:"processed_at"`
}

// Usage is the model tokens an analysis spent.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// PreviewChars is how much of each conversation's content a list item
// carries. A list answers "what do I have and how far is its analysis";
// the full content, up to 100,000 characters each, is one GET away.
// Carrying it made a page of 100 long conversations tens of megabytes.
const PreviewChars = 500

// ListItem is a conversation as a list shows it: every field of
// Conversation, with Content cut to its first PreviewChars characters.
type ListItem struct {
	Conversation
	// ContentTruncated is true when Content is only the start of the
	// conversation's content; absent when Content is all of it.
	ContentTruncated bool `json:"content_truncated,omitempty"`
	// ContentChars is the whole content's length in characters, given
	// when ContentTruncated.
	ContentChars int `json:"content_chars,omitempty"`
}

// ConversationList is one page of GET /api/conversations.
type ConversationList struct {
	Items []ListItem `json:"items"`
	// NextCursor is null on the last page.
	NextCursor *string `json:"next_cursor"`
}

// HealthReport is the body of GET /api/health.
type HealthReport struct {
	Status     string            `json:"status"`
	Components map[string]string `json:"components"`
}

// View renders c for clients.
func View(c *recall.Conversation) Conversation {
	v := Conversation{
		ID:            c.ID,
		Title:         c.Title,
		Content:       c.Content,
		PostType:      c.PostType,
		Priority:      string(c.Priority),
		CreatedAt:     timestamp(c.CreatedAt),
		UpdatedAt:     timestamp(c.UpdatedAt),
		AIStatus:      string(c.Status),
		AIProcessed:   c.Status == recall.StatusDone,
		AIActionItems: []string{},
		AIKeywords:    []string{},
		ActionItems:   itemViews(c.Items),
		AIUsage:       Usage{InputTokens: c.Usage.InputTokens, OutputTokens: c.Usage.OutputTokens},
		AIAttempts:    c.Attempts,
	}
	if c.Status == recall.StatusDone {
		v.AISummary = new(c.Summary)
		v.AIActionItems = append(v.AIActionItems, c.ActionItems...)
		v.AIKeywords = append(v.AIKeywords, c.Keywords...)
	}
	if c.Error != "" {
		v.AIError = new(c.Error)
	}
	if c.Model != "" {
		v.AIModel = new(c.Model)
	}
	if !c.ProcessedAt.IsZero() {
		v.ProcessedAt = new(timestamp(c.ProcessedAt))
	}
	return v
}

// ListView renders c for a list: View with the content cut to
// PreviewChars characters, on a character boundary.
func ListView(c *recall.Conversation) ListItem {
	item := ListItem{Conversation: View(c)}
	if cut, ok := preview(c.Content, PreviewChars); ok {
		item.Content, item.ContentTruncated, item.ContentChars = cut, true, utf8.RuneCountInString(c.Content)
	}
	return item
}

// preview returns the first n characters of s and whether that is less
// than all of s.
func preview(s string, n int) (string, bool) {
	i := 0
	for at := range s {
		if i == n {
			return s[:at], true
		}
		i++
	}
	return s, false
}

// timestamp renders t as RFC 3339 in UTC, with as much precision as it has.
func timestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
