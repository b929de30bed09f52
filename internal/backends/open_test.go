package backends_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"recall/internal/backends"
	"recall/internal/bedrock"
	"recall/internal/config"
	"recall/internal/embedded"
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

// TestOpenRefusesWhatItCannotServe: a Lambda function that opens the
// store signs list cursors, which every function must be able to check,
// so it does not start without the shared key; and it is given no
// embedded store (its disk is its own and lost with it), so it does not
// start without DYNAMODB_TABLE. Each refusal names the variable. Reading
// the configuration needs neither: the web function opens nothing.
func TestOpenRefusesWhatItCannotServe(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		name string
		mode config.Mode
		env  map[string]string
		emb  backends.Embedded
		want string // what the error says; "" opens
	}{
		{"lambda without a cursor key", config.Lambda, map[string]string{"DYNAMODB_TABLE": "recall"}, backends.Embedded{}, "RECALL_CURSOR_KEY is not set"},
		{"lambda without a table", config.Lambda, map[string]string{"RECALL_CURSOR_KEY": "ck"}, backends.Embedded{}, "DYNAMODB_TABLE is not set"},
		{"no embedded store and no table", config.Local, map[string]string{"RECALL_DATA_DIR": t.TempDir()}, backends.Embedded{}, "DYNAMODB_TABLE is not set"},
		{"lambda on an embedded store a test gives it", config.Lambda, map[string]string{"RECALL_DATA_DIR": t.TempDir(), "RECALL_CURSOR_KEY": "ck"}, embedded.Openers(), ""},
		{"local", config.Local, map[string]string{"RECALL_DATA_DIR": t.TempDir()}, embedded.Openers(), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.FromLookup(tt.mode, lookup(tt.env))
			if err != nil {
				t.Fatalf("FromLookup: %v; reading the configuration needs neither a cursor key nor a store", err)
			}
			check := func(what string, b *backends.Set, err error) {
				t.Helper()
				if err == nil {
					b.Close()
				}
				switch {
				case tt.want == "" && err != nil:
					t.Errorf("%s: %v; want it to open", what, err)
				case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
					t.Errorf("%s: %v; want an error saying %q", what, err, tt.want)
				}
			}
			b, err := backends.Open(t.Context(), cfg, log, tt.emb)
			check("Open", b, err)
			b, err = backends.OpenStore(t.Context(), cfg, log, tt.emb)
			check("OpenStore", b, err)
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
