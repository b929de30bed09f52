package lambdafn

import (
	"context"
	"log/slog"
)

// FunctionProcess is the name of the process function, the one function
// with no HTTP routes (the HTTP functions' names are httpapi's, beside the
// routes they serve).
const FunctionProcess = "process"

// Leveled returns log writing only records at level or above. The functions
// log through lambdacontext.NewLogger, which puts the request id on every
// record and writes in the format Lambda's logging configuration sets
// (AWS_LAMBDA_LOG_FORMAT), but takes its level only from
// AWS_LAMBDA_LOG_LEVEL; Leveled keeps RECALL_LOG_LEVEL deciding, as it did
// before, including debug, which that logger's own default (info) would
// drop.
func Leveled(log *slog.Logger, level slog.Leveler) *slog.Logger {
	return slog.New(leveled{h: log.Handler(), level: level})
}

type leveled struct {
	h     slog.Handler
	level slog.Leveler
}

func (l leveled) Enabled(_ context.Context, lv slog.Level) bool { return lv >= l.level.Level() }

func (l leveled) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }

func (l leveled) WithAttrs(as []slog.Attr) slog.Handler {
	return leveled{h: l.h.WithAttrs(as), level: l.level}
}

func (l leveled) WithGroup(name string) slog.Handler {
	return leveled{h: l.h.WithGroup(name), level: l.level}
}
