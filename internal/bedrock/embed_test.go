package bedrock_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/recall"
)

func newEmbedder(t *testing.T, s *bedrocktest.EmbedServer, region string) *bedrock.Embedder {
	t.Helper()
	c, err := bedrock.NewClient(context.Background(), region, bedrock.WithBaseEndpoint(s.URL), bedrock.WithCredentials(s.Credentials()))
	if err != nil {
		t.Fatal(err)
	}
	return bedrock.NewEmbedder(c, bedrock.EmbedderOptions{})
}

func norm(v []float32) float64 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	return math.Sqrt(n)
}

func TestEmbed(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewEmbedServer(t, "")
	e := newEmbedder(t, s, s.Region())
	vec, tokens, err := e.Embed(context.Background(), "  We need to migrate the push service.  ")
	if err != nil {
		t.Fatal(err)
	}
	if len(vec) != bedrock.DefaultEmbedDimensions || e.Dimensions() != bedrock.DefaultEmbedDimensions {
		t.Fatalf("got %d dimensions, want %d", len(vec), bedrock.DefaultEmbedDimensions)
	}
	if n := norm(vec); math.Abs(n-1) > 1e-3 {
		t.Errorf("vector length %v, want 1 (normalize must be sent)", n)
	}
	if want := bedrocktest.EstimateTokens(len("We need to migrate the push service.")); tokens != want {
		t.Errorf("tokens %d, want what Bedrock billed, %d", tokens, want)
	}
	if in := s.Inputs(); len(in) != 1 || in[0] != "We need to migrate the push service." {
		t.Errorf("inputs %q: one call with the trimmed text", in)
	}
}

func TestEmbedCutsLongText(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewEmbedServer(t, "")
	e := newEmbedder(t, s, s.Region())
	long := strings.Repeat("word ", bedrocktest.TitanMaxChars/5+10)
	if _, _, err := e.Embed(context.Background(), long); err != nil {
		t.Fatalf("a text over the model's limit must be cut, not refused: %v", err)
	}
	// Dense text: under the character cut, over the token limit (the fake
	// counts a token per four bytes); the embedder halves it once.
	dense := strings.Repeat("é", 20_000)
	if _, _, err := e.Embed(context.Background(), dense); err != nil {
		t.Fatalf("dense text: %v", err)
	}
	in := s.Inputs()
	if len(in) != 2 || len([]rune(in[0])) > bedrock.MaxEmbedChars || len([]rune(in[1])) != 10_000 {
		t.Fatalf("embedded %d texts; want the long one cut to at most %d characters and the dense one halved", len(in), bedrock.MaxEmbedChars)
	}
	if v := s.TakeViolations(); len(v) != 1 || !strings.Contains(v[0], "Too many input tokens") {
		t.Fatalf("want the one refused dense request, got %q", v)
	}
}

func TestEmbedErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fail      []string
		code      string
		retry     bool
		msg       string
		wrongCred bool
	}{
		{name: "throttled", fail: []string{"ThrottlingException"}, code: recall.ETHROTTLED, retry: true, msg: "throttling"},
		{name: "unavailable after the SDK's one retry", fail: []string{"ServiceUnavailableException", "ServiceUnavailableException"}, code: recall.EUNAVAILABLE, msg: "unavailable"},
		{name: "model timeout", fail: []string{"ModelTimeoutException"}, code: recall.EUNAVAILABLE, msg: "timed out"},
		{name: "access denied says which permission", fail: []string{"AccessDeniedException"}, code: recall.EPERMISSION, msg: "bedrock:InvokeModel on arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"},
		{name: "validation", fail: []string{"ValidationException"}, code: recall.EINVALID, msg: "refused the embedding request"},
		{name: "wrong secret", wrongCred: true, code: recall.EPERMISSION, msg: "rejected the credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := bedrocktest.NewEmbedServer(t, "")
			s.Fail(tt.fail...)
			var e *bedrock.Embedder
			if tt.wrongCred {
				c, err := bedrock.NewClient(context.Background(), s.Region(), bedrock.WithBaseEndpoint(s.URL),
					bedrock.WithCredentials(credentials.NewStaticCredentialsProvider(bedrocktest.AccessKeyID, "wrong", "")))
				if err != nil {
					t.Fatal(err)
				}
				e = bedrock.NewEmbedder(c, bedrock.EmbedderOptions{})
			} else {
				e = newEmbedder(t, s, s.Region())
			}
			_, _, err := e.Embed(context.Background(), "hello")
			if recall.ErrorCode(err) != tt.code {
				t.Fatalf("error %v, want code %s", err, tt.code)
			}
			if !strings.Contains(recall.ErrorMessage(err), tt.msg) {
				t.Errorf("message %q does not say %q", recall.ErrorMessage(err), tt.msg)
			}
			if got := recall.RetryAfter(err) > 0; got != tt.retry {
				t.Errorf("RetryAfter %v, want one: %v", recall.RetryAfter(err), tt.retry)
			}
			if tt.wrongCred {
				if v := s.TakeViolations(); len(v) != 1 || !strings.Contains(v[0], "InvalidSignatureException") {
					t.Errorf("the fake should have refused the signature: %q", v)
				}
			}
		})
	}
}

func TestEmbedSignsForTheRegion(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewEmbedServer(t, "eu-west-1")
	e := newEmbedder(t, s, "us-east-1") // signs for the wrong region
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := e.Embed(ctx, "hello"); recall.ErrorCode(err) != recall.EPERMISSION {
		t.Fatalf("error %v, want %s for a signature scoped to another region", err, recall.EPERMISSION)
	}
	if v := s.TakeViolations(); len(v) != 1 || !strings.Contains(v[0], "region") {
		t.Fatalf("violations %q", v)
	}
}

func TestFakeEmbeddingIsSemantic(t *testing.T) {
	t.Parallel()
	cos := func(a, b []float32) float64 {
		var d float64
		for i := range a {
			d += float64(a[i]) * float64(b[i])
		}
		return d
	}
	q := bedrocktest.Embed("planning the downtime", 512)
	near := bedrocktest.Embed("We planned the outage window for Saturday.", 512)
	far := bedrocktest.Embed("Coffee machine is broken again.", 512)
	if cos(q, near) <= cos(q, far)+0.2 {
		t.Fatalf("fake embedding not semantic enough: near %.2f, far %.2f", cos(q, near), cos(q, far))
	}
}
