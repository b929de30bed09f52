package bedrock_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/recall"
)

// A fresh account's first calls, over HTTP as Bedrock answers them: the
// analysis waits (throttled, with the wait Bedrock names, no attempt spent),
// Health says what to do, and the first call after the account is enabled
// succeeds and clears it.
func TestModelAccessPendingOverTheWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, errType, message string
		status                 int
		retryAfter             time.Duration
		fix                    string
	}{
		{
			name:    "marketplace subscription",
			errType: "AccessDeniedException",
			message: "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions " +
				"(aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model. Refer to the Amazon Bedrock " +
				"documentation for further details. Your AWS Marketplace subscription for this model cannot be completed at this time. " +
				"If you recently fixed this issue, try again after 2 minutes.",
			status:     http.StatusForbidden,
			retryAfter: 2 * time.Minute,
			fix:        "Have an administrator make that first call once: aws bedrock-runtime converse --region us-east-1 --model-id " + bedrock.DefaultModelID,
		},
		{
			name:    "anthropic use case form",
			errType: "ResourceNotFoundException",
			message: "Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before " +
				"using the model. If you have already filled out the form, try again in 15 minutes.",
			status:     http.StatusNotFound,
			retryAfter: 15 * time.Minute,
			fix:        "aws bedrock put-use-case-for-model-access",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := bedrocktest.NewServer(t, bedrocktest.Options{})
			s.SetHook(func(*bedrocktest.Request) bedrocktest.Behavior { return bedrocktest.Error(tt.errType, tt.message) })
			a := newAnalyzer(t, s, bedrock.Options{})

			_, err := a.Analyze(context.Background(), in(meeting))
			if recall.ErrorCode(err) != recall.ETHROTTLED || !recall.Retryable(err) {
				t.Fatalf("err = %v (code %q); want throttled: the queue keeps the job without spending an attempt", err, recall.ErrorCode(err))
			}
			if !errors.Is(err, bedrock.ErrModelAccessPending) {
				t.Errorf("err = %v; want ErrModelAccessPending in the chain, so doctor can tell it from a busy quota", err)
			}
			if got := recall.RetryAfter(err); got != tt.retryAfter {
				t.Errorf("RetryAfter %s; want %s, the wait Bedrock named", got, tt.retryAfter)
			}
			if msg := recall.ErrorMessage(err); !strings.Contains(msg, tt.fix) {
				t.Errorf("message %q\nlacks what to do: %q", msg, tt.fix)
			}
			reqs := s.Requests()
			if len(reqs) != 1 || reqs[0].Status != tt.status {
				t.Fatalf("%d requests (first status %v); want one answered %d: the SDK must not retry it", len(reqs), statusOf(reqs), tt.status)
			}
			_, herr := a.Health(context.Background())
			if herr == nil || !strings.Contains(herr.Error(), tt.fix) {
				t.Errorf("Health error %v; want the message that says what to do", herr)
			}

			// The account is enabled: the next call goes through.
			s.SetHook(nil)
			if _, err := a.Analyze(context.Background(), in(meeting)); err != nil {
				t.Fatalf("after the account was enabled: %v", err)
			}
			if h, err := a.Health(context.Background()); h != "configured" || err != nil {
				t.Errorf("after a success Health = %q, %v", h, err)
			}
		})
	}
}

func statusOf(r []bedrocktest.Request) any {
	if len(r) == 0 {
		return nil
	}
	return r[0].Status
}
