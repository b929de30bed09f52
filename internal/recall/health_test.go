package recall_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"recall/internal/boltstore"
	"recall/internal/memq"
	"recall/internal/recall"
)

// sickAnalyzer fails its health check with err; it is never asked to
// analyse.
type sickAnalyzer struct{ err error }

func (a *sickAnalyzer) Analyze(context.Context, recall.AnalysisInput) (recall.Analysis, error) {
	return recall.Analysis{}, a.err
}

func (a *sickAnalyzer) Health(context.Context) (string, error) { return "", a.err }

// TestHealthIsShortInPublic: /api/health is public, so a failing component
// shows a short status and nothing of its cause (model IDs, regions, IAM
// hints, hosts), which goes to the log.
func TestHealthIsShortInPublic(t *testing.T) {
	t.Parallel()
	const secret = "AccessDeniedException: User arn:aws:iam::123456789012:role/recall is not authorized to perform bedrock:InvokeModel on us.anthropic.claude-haiku-4-5 in eu-west-3"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"access denied", recall.Wrap(errors.New(secret), recall.EPERMISSION, "Bedrock refused "+secret), recall.HealthMisconfigured},
		{"no credentials", recall.Wrap(errors.New(secret), recall.EUNAUTHORIZED, secret), recall.HealthMisconfigured},
		{"throttled", recall.Wrap(errors.New(secret), recall.ETHROTTLED, secret), recall.HealthThrottled},
		{"down", recall.Wrap(errors.New(secret), recall.EUNAVAILABLE, secret), recall.HealthUnavailable},
		{"raw error", errors.New(secret), recall.HealthUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var logs bytes.Buffer
			svc := recall.NewService(recall.Config{Store: st, Queue: memq.New(memq.Options{}), Analyzer: &sickAnalyzer{err: tt.err},
				Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			h := svc.Health(context.Background())
			if h.Healthy || h.Components["ai"] != tt.want || h.Components["database"] != "ok" || h.Components["queue"] != "ok" {
				t.Fatalf("health = %+v, want ai %q and the rest ok", h, tt.want)
			}
			if !strings.Contains(logs.String(), "is not authorized to perform bedrock:InvokeModel") {
				t.Errorf("the cause was not logged:\n%s", logs.String())
			}
		})
	}
}

// TestInternalErrorIsNotStored: an analysis error nobody classified (its
// text may name a host, a path or a key) is logged; the owner's ai_error
// says only that an internal error was logged.
func TestInternalErrorIsNotStored(t *testing.T) {
	t.Parallel()
	const raw = "open /var/task/prompts/secret-key-AKIA123.txt: permission denied"
	var logs bytes.Buffer
	h := newHarnessWith(t, func(c *recall.Config) {
		c.MaxAttempts = 2
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	}, errors.New(raw), errors.New(raw))
	c := h.create(t)
	h.run(t)
	c = h.get(t, c.ID)
	want := "analysis failed after 2 attempts: the analysis failed because of an internal error; it was logged"
	if c.Status != recall.StatusFailed || c.Error != want {
		t.Fatalf("status %s, ai_error %q; want failed with %q", c.Status, c.Error, want)
	}
	if !strings.Contains(logs.String(), raw) {
		t.Errorf("the raw error was not logged:\n%s", logs.String())
	}
}
