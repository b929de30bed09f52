package httpapi

import (
	"time"

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

// ConversationList is one page of GET /api/conversations.
type ConversationList struct {
	Items []Conversation `json:"items"`
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

// timestamp renders t as RFC 3339 in UTC, with as much precision as it has.
func timestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
