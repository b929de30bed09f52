package bedrock_test

import (
	"context"
	"strings"
	"testing"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/recall"
)

// refuseStrict answers a request that asks for strict tool use as a model or
// region without structured outputs does, and lets the rest through.
func refuseStrict(message string) func(*bedrocktest.Request) bedrocktest.Behavior {
	return func(r *bedrocktest.Request) bedrocktest.Behavior {
		if spec := r.Converse.Tool(r.Converse.ForcedTool()); spec != nil && spec.Strict != nil && *spec.Strict {
			return bedrocktest.Error("ValidationException", message)
		}
		return nil
	}
}

func strictSent(r bedrocktest.Request) bool {
	spec := r.Converse.Tool(r.Converse.ForcedTool())
	return spec != nil && spec.Strict != nil && *spec.Strict
}

// A model or region that refuses strict tool use costs one refused request
// for the analyzer's lifetime, never a failed job.
func TestStrictRefusedIsRetriedWithoutIt(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{
		"The model returned the following errors: tools.0.custom.strict: Extra inputs are not permitted",
		"Structured outputs are not supported for this model in this Region.",
	} {
		t.Run(msg, func(t *testing.T) {
			t.Parallel()
			s := bedrocktest.NewServer(t, bedrocktest.Options{})
			s.SetHook(refuseStrict(msg))
			// Haiku 4.5 asks for strict by default; the small budget splits
			// the long conversation below but not the meeting.
			a := newAnalyzer(t, s, bedrock.Options{InputBudgetTokens: 200})

			got, err := a.Analyze(context.Background(), in(meeting))
			if err != nil {
				t.Fatalf("Analyze: %v; want the call retried without strict", err)
			}
			if got.Calls != 1 || got.Summary == "" {
				t.Errorf("analysis %+v; want one call's result", got)
			}
			reqs := s.Requests()
			if len(reqs) != 2 || !strictSent(reqs[0]) || strictSent(reqs[1]) || reqs[0].Status != 400 || reqs[1].Status != 200 {
				t.Fatalf("requests: %s; want one strict request refused (400), then the same call without strict (200)", describe(reqs))
			}
			if reqs[0].UserText() != reqs[1].UserText() {
				t.Error("the retry is not the same call")
			}

			// Remembered: a long conversation's parts and the call that
			// combines them all go without strict, each once.
			res, err := a.Analyze(context.Background(), recall.AnalysisInput{ConversationID: "01JSPLIT", Content: strings.Repeat(meeting+"\n", 6)})
			if err != nil {
				t.Fatal(err)
			}
			after := s.Requests()[2:]
			if len(after) != res.Calls || res.Calls < 3 {
				t.Fatalf("%d requests for an analysis of %d calls; want one request per call (and a split analysis)", len(after), res.Calls)
			}
			for _, r := range after {
				if strictSent(r) {
					t.Errorf("request %d asked for strict again after Bedrock refused it", r.Seq)
				}
			}
			if h, err := a.Health(context.Background()); h != "configured" || err != nil {
				t.Errorf("Health = %q, %v", h, err)
			}
		})
	}
}

// Other validation errors are the conversation's or the configuration's,
// and are not retried.
func TestOtherValidationErrorsAreNotRetriedWithoutStrict(t *testing.T) {
	t.Parallel()
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	s.SetHook(func(*bedrocktest.Request) bedrocktest.Behavior {
		return bedrocktest.Error("ValidationException", "Input is too long for requested model.")
	})
	a := newAnalyzer(t, s, bedrock.Options{})
	_, err := a.Analyze(context.Background(), in(meeting))
	if recall.ErrorCode(err) != recall.EINVALID {
		t.Fatalf("err = %v; want invalid_request", err)
	}
	if reqs := s.Requests(); len(reqs) != 1 || !strictSent(reqs[0]) {
		t.Errorf("requests: %s; want the one strict request, not retried", describe(reqs))
	}
}

func describe(reqs []bedrocktest.Request) string {
	var parts []string
	for _, r := range reqs {
		mode := "loose"
		if strictSent(r) {
			mode = "strict"
		}
		parts = append(parts, mode+"→"+r.Behavior)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
