package lambdafn_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"recall/internal/lambdafn"
)

// TestLeveled: RECALL_LOG_LEVEL decides what the functions' logger writes,
// below the inner handler's own level (lambdacontext's defaults to info)
// and above it, and the inner handler still formats each record.
func TestLeveled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level slog.Level
		want  []string // messages written, of debug, info, warn
	}{
		{slog.LevelDebug, []string{"m-debug", "m-info", "m-warn"}},
		{slog.LevelInfo, []string{"m-info", "m-warn"}},
		{slog.LevelWarn, []string{"m-warn"}},
	}
	for _, tt := range tests {
		t.Run(tt.level.String(), func(t *testing.T) {
			var buf bytes.Buffer
			inner := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
			log := lambdafn.Leveled(inner, tt.level).With("function", "create")
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
			log.DebugContext(ctx, "m-debug")
			log.InfoContext(ctx, "m-info")
			log.WarnContext(ctx, "m-warn")
			out := buf.String()
			for _, m := range []string{"m-debug", "m-info", "m-warn"} {
				written := strings.Contains(out, `"msg":"`+m+`"`)
				want := strings.Contains(strings.Join(tt.want, " "), m)
				if written != want {
					t.Errorf("%s written = %v, want %v:\n%s", m, written, want, out)
				}
			}
			if strings.Count(out, `"function":"create"`) != len(tt.want) {
				t.Errorf("attributes added with With are lost:\n%s", out)
			}
		})
	}
}
