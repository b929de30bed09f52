package backends_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"recall/internal/backends"
	"recall/internal/bedrock"
	"recall/internal/config"
	"recall/internal/recall"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// TestDefaultModelsAgree: config writes the default model IDs again
// rather than import bedrock, which would link the Bedrock client into
// every function that reads its configuration; they must stay the models
// the analyzer and the embedder default to and price.
func TestDefaultModelsAgree(t *testing.T) {
	t.Parallel()
	if config.DefaultBedrockModel != bedrock.DefaultModelID {
		t.Errorf("config.DefaultBedrockModel = %q; bedrock.DefaultModelID = %q", config.DefaultBedrockModel, bedrock.DefaultModelID)
	}
	if config.DefaultEmbedModel != bedrock.EmbedModelID {
		t.Errorf("config.DefaultEmbedModel = %q; bedrock.EmbedModelID = %q", config.DefaultEmbedModel, bedrock.EmbedModelID)
	}
}

// TestLambdaStoreNeedsCursorKey: a Lambda function that opens the store
// signs list cursors, which every function must be able to check, so it
// does not start without the shared key; one that opens nothing (the web
// function) does not need it.
func TestLambdaStoreNeedsCursorKey(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		name string
		env  map[string]string
		open bool
	}{
		{"no key", map[string]string{"RECALL_DATA_DIR": t.TempDir()}, false},
		{"key", map[string]string{"RECALL_DATA_DIR": t.TempDir(), "RECALL_CURSOR_KEY": "ck"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.FromLookup(config.Lambda, lookup(tt.env))
			if err != nil {
				t.Fatalf("FromLookup: %v; reading the configuration needs no cursor key", err)
			}
			b, err := backends.Open(t.Context(), cfg, log)
			if err == nil {
				b.Close()
			}
			if (err == nil) != tt.open {
				t.Fatalf("Open: %v; want it to open: %v", err, tt.open)
			}
			if !tt.open && !strings.Contains(err.Error(), "RECALL_CURSOR_KEY is not set") {
				t.Errorf("Open: %v; want the error to name RECALL_CURSOR_KEY", err)
			}
			if _, err := backends.OpenStore(t.Context(), cfg, log); (err == nil) != tt.open {
				t.Errorf("OpenStore: %v; want it to open: %v", err, tt.open)
			}
		})
	}
}

// TestAnalyzerReadsDatesAsConfigured: the local analyzer the configuration
// builds resolves "tomorrow" on the day the conversation was created in
// RECALL_TIMEZONE, and reads 12/03 only with RECALL_DATE_ORDER.
func TestAnalyzerReadsDatesAsConfigured(t *testing.T) {
	t.Parallel()
	// 23:30 UTC on 1 March is already 2 March in Tokyo.
	created := time.Date(2026, time.March, 1, 23, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		env  map[string]string
		text string
		want string
	}{
		{"utc by default", nil, "Alice: I will send the deck tomorrow.", "2026-03-02"},
		{"in the configured zone", map[string]string{"RECALL_TIMEZONE": "Asia/Tokyo"}, "Alice: I will send the deck tomorrow.", "2026-03-03"},
		{"numeric date without an order", nil, "Alice: I will send the deck by 12/03/2026.", ""},
		{"numeric date, day first", map[string]string{"RECALL_DATE_ORDER": "dmy"}, "Alice: I will send the deck by 12/03/2026.", "2026-03-12"},
		{"numeric date, month first", map[string]string{"RECALL_DATE_ORDER": "mdy"}, "Alice: I will send the deck by 12/03/2026.", "2026-12-03"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.FromLookup(config.Local, lookup(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			a, err := backends.OpenAnalyzer(t.Context(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Analyze(t.Context(), recall.AnalysisInput{Content: tt.text, CreatedAt: created})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Items) != 1 {
				t.Fatalf("items = %+v, want one", got.Items)
			}
			if due := got.Items[0].Due; (due == nil) != (tt.want == "") || (due != nil && due.String() != tt.want) {
				t.Fatalf("due = %v, want %q", due, tt.want)
			}
		})
	}
}
