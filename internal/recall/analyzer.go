package recall

import (
	"context"
	"time"
)

// Analyzer turns a conversation into a summary, action items and keywords.
type Analyzer interface {
	// Analyze analyses one conversation. Errors carry codes the worker acts
	// on: ETHROTTLED is retried later without spending an attempt; codes for
	// which Retryable is false fail the run at once with the error's message
	// as ai_error, so that message must tell a person what to fix.
	Analyze(ctx context.Context, in AnalysisInput) (Analysis, error)

	// Health describes the analyzer for /api/health without calling a model:
	// "local", "configured", or an error naming what is wrong.
	Health(ctx context.Context) (string, error)
}

// AnalysisInput is what an analyzer sees of a conversation.
type AnalysisInput struct {
	ConversationID string
	// Owner is whose conversation it is. An analyzer that reuses work
	// (a cache) reuses it only for the same owner, so what one person
	// posted can never shape, or be probed through, another's analysis.
	Owner    string
	Title    string
	PostType string
	Content  string
	// CreatedAt is when the conversation was posted: the day relative due
	// dates ("by Friday", "next week") count from. Zero when unknown; an
	// analyzer then resolves only dates that spell out their year.
	CreatedAt time.Time
}
