package bedrock_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/recall"
)

// about500Tokens is a meeting of about 2,000 characters: ~500 tokens at the
// usual four characters a token.
func about500Tokens() string {
	var b strings.Builder
	for i := 0; b.Len() < 2000; i++ {
		fmt.Fprintf(&b, "%s: Point %d on the roadmap: we reviewed the numbers and agreed to follow up next week.\n",
			[]string{"Anna", "Ben", "Chloé"}[i%3], i+1)
	}
	return strings.TrimSpace(b.String())
}

// TestPromptOverheadIsSmall measures what one analysis of a ~500-token
// conversation sends besides the conversation: system prompt, tool name,
// description and schema, fence and JSON framing, all counted from the
// request body as sent, at four characters a token. The target is one call
// and at most 400 tokens of overhead. (Claude adds its own hidden tool-use
// prompt on top, a few hundred tokens we cannot shrink.)
func TestPromptOverheadIsSmall(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	a := newAnalyzer(t, s, bedrock.Options{})
	content := about500Tokens()
	got, err := a.Analyze(context.Background(), recall.AnalysisInput{Title: "Roadmap sync", PostType: "meeting", Content: content})
	if err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if got.Calls != 1 || len(reqs) != 1 {
		t.Fatalf("%d calls", got.Calls)
	}
	r := reqs[0]
	contentTokens := len(content) / 4
	overheadChars := len(r.Body) - len(content)
	overhead := (overheadChars + 3) / 4
	promptOnly := (len(r.SystemText()) + len(r.Converse.Tool("record_analysis").InputSchema.JSON) + len(r.UserText()) - len(content) + 3) / 4
	t.Logf("content %d chars (~%d tokens); request body %d bytes; overhead %d tokens (whole body), %d tokens (system+schema+fence); fake-reported input %d tokens",
		len(content), contentTokens, len(r.Body), overhead, promptOnly, r.InputTokens)
	if overhead > 400 {
		t.Errorf("prompt and schema overhead is %d tokens; keep it under 400", overhead)
	}
}

// BenchmarkAnalyzeCacheHit is the cost of answering an identical
// conversation from the in-memory cache: normalising, hashing and a lookup.
func BenchmarkAnalyzeCacheHit(b *testing.B) {
	s := bedrocktest.NewServer(b, bedrocktest.Options{})
	c, err := bedrock.NewClient(context.Background(), s.Region(), bedrock.WithBaseEndpoint(s.URL), bedrock.WithCredentials(s.Credentials()))
	if err != nil {
		b.Fatal(err)
	}
	a := bedrock.New(c, bedrock.Options{})
	in := recall.AnalysisInput{Title: "Roadmap sync", PostType: "meeting", Content: about500Tokens()}
	if _, err := a.Analyze(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := a.Analyze(context.Background(), in)
		if err != nil || !got.Cached {
			b.Fatalf("not a cache hit: %v", err)
		}
	}
	if n := len(s.Requests()); n != 1 {
		b.Fatalf("%d requests", n)
	}
}

// BenchmarkAnalyzeMiss is one full analysis through the SDK (signing,
// serialising, parsing, validating) against the local fake, for comparison.
func BenchmarkAnalyzeMiss(b *testing.B) {
	s := bedrocktest.NewServer(b, bedrocktest.Options{})
	c, err := bedrock.NewClient(context.Background(), s.Region(), bedrock.WithBaseEndpoint(s.URL), bedrock.WithCredentials(s.Credentials()))
	if err != nil {
		b.Fatal(err)
	}
	a := bedrock.New(c, bedrock.Options{Cache: bedrock.NewMemoryCache(0)})
	in := recall.AnalysisInput{Title: "Roadmap sync", PostType: "meeting", Content: about500Tokens()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Analyze(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}
