package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"recall/internal/bedrock"
	"recall/internal/redisq"
	"recall/internal/testenv"
)

// TestUsageShowsEmbeddings: search on AWS adds its embedding calls to the
// shared totals under the embedding model (config's embedUsage), and
// `recall usage` lists and prices them beside the analyses.
func TestUsageShowsEmbeddings(t *testing.T) {
	srv := testenv.StartRedis(t)
	t.Setenv("REDIS_URL", srv.URL())
	ctx := t.Context()
	client, err := redisq.NewClient(srv.URL(), redisq.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	u := redisq.NewUsage(client, "")
	// 1M input tokens of Claude Haiku 4.5 cost $1; 2M embedding tokens
	// of Titan V2 cost $0.04, in 4,000 calls (a conversation or a query each).
	for _, m := range []redisq.ModelUsage{
		{Model: bedrock.DefaultModelID, Calls: 10, Analyses: 10, InputTokens: 1_000_000},
		{Model: bedrock.EmbedModelID, Calls: 4000, InputTokens: 2_000_000},
	} {
		if err := u.Add(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"usage"}, &out, &errOut); code != 0 {
		t.Fatalf("usage: exit %d: %s", code, errOut.String())
	}
	var row string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), bedrock.EmbedModelID) {
			row = l
		}
	}
	for _, want := range []string{"4000", "2000000", "0.0400"} {
		if !strings.Contains(row, want) {
			t.Errorf("the embedding row %q lacks %q:\n%s", row, want, out.String())
		}
	}
	if strings.Contains(out.String(), "No price") || !strings.Contains(out.String(), "1.0400") {
		t.Errorf("usage does not price the embeddings into the total ($1.04):\n%s", out.String())
	}

	out.Reset()
	if code := run(ctx, []string{"usage", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("usage --json: exit %d: %s", code, errOut.String())
	}
	var totals bedrock.Totals
	if err := json.Unmarshal(out.Bytes(), &totals); err != nil {
		t.Fatal(err)
	}
	if totals.Calls != 4010 || totals.InputTokens != 3_000_000 || len(totals.Unpriced) != 0 {
		t.Errorf("usage --json totals = %+v; want 4010 calls, 3,000,000 input tokens, every model priced", totals)
	}
}
