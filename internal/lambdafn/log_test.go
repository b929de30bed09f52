package lambdafn_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
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

// TestLeveledOverLambdaContextLogger: over the functions' own logger
// (lambdacontext.NewLogger, info unless AWS_LAMBDA_LOG_LEVEL says
// otherwise) RECALL_LOG_LEVEL=debug still lets debug records out, each with
// the invocation's request id.
func TestLeveledOverLambdaContextLogger(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w // lambdacontext's handler writes to the stdout it finds when built
	log := lambdafn.Leveled(lambdacontext.NewLogger(), slog.LevelDebug)
	os.Stdout = stdout
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-7"})
	log.DebugContext(ctx, "m-debug")
	w.Close()
	out, _ := io.ReadAll(r)
	if !strings.Contains(string(out), "m-debug") || !strings.Contains(string(out), "req-7") {
		t.Fatalf("debug record with request id not written: %q", out)
	}
}
