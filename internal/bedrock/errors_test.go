package bedrock

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"recall/internal/recall"
)

// Bedrock's answers on a fresh account, as AWS returns them (AWS re:Post
// "resolve AccessDeniedException errors for AWS Marketplace permissions",
// the Bedrock troubleshooting page's FTUFormNotFilled, and messages quoted
// from CloudTrail and SDK logs), with this test's account and role.
const (
	marketplaceDenied = "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions " +
		"(aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model. Refer to the Amazon Bedrock documentation " +
		"for further details. Your AWS Marketplace subscription for this model cannot be completed at this time. If you recently fixed this issue, " +
		"try again after 2 minutes."
	marketplaceDeniedRole = "Model access is denied due to User: arn:aws:sts::123456789012:assumed-role/recall-ProcessRole-1A2B3C/recall-process " +
		"is not authorized to perform: aws-marketplace:ViewSubscriptions on resource: * because no identity-based policy allows the " +
		"aws-marketplace:ViewSubscriptions action. Your AWS Marketplace subscription for this model cannot be completed at this time. " +
		"If you recently fixed this issue, try again after 15 minutes."
	marketplaceDeniedBare = "Model access is denied due to arn:aws:iam::123456789012:role/recall-ProcessRole-1A2B3C is not authorized to perform: " +
		"aws-marketplace:Subscribe on resource: * because no identity-based policy allows the action."
	useCaseMissing = "Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before " +
		"using the model. If you have already filled out the form, try again in 15 minutes."
	useCaseMissingBare = "Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before using the model."
	iamDenied          = "User: arn:aws:sts::123456789012:assumed-role/recall-ProcessRole-1A2B3C/recall-process is not authorized to perform: " +
		"bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0 " +
		"because no identity-based policy allows the bedrock:InvokeModel action"
)

func TestClassifyModelAccessPending(t *testing.T) {
	t.Parallel()
	const model, region = "us.anthropic.claude-haiku-4-5-20251001-v1:0", "us-east-1"
	denied := func(m string) error { return &types.AccessDeniedException{Message: aws.String(m)} }
	notFound := func(m string) error { return &types.ResourceNotFoundException{Message: aws.String(m)} }
	marketplaceFix := []string{
		"Bedrock has not enabled " + model + " for this AWS account yet",
		"aws-marketplace:Subscribe",
		"aws bedrock-runtime converse --region " + region + " --model-id " + model,
		"retry by themselves",
	}
	useCaseFix := []string{
		"Anthropic requires this AWS account's use case details before " + model,
		"aws bedrock put-use-case-for-model-access",
		"retry by themselves about every 15 minutes",
	}
	tests := []struct {
		name       string
		err        error
		code       string
		pending    bool          // ErrModelAccessPending in the chain
		retryAfter time.Duration // 0: none
		message    []string      // substrings of the message a person reads
	}{
		{"marketplace", denied(marketplaceDenied), recall.ETHROTTLED, true, 2 * time.Minute, append(marketplaceFix, "every 2 minutes")},
		{"marketplace naming the role", denied(marketplaceDeniedRole), recall.ETHROTTLED, true, 15 * time.Minute, append(marketplaceFix, "every 15 minutes")},
		{"marketplace, no wait named", denied(marketplaceDeniedBare), recall.ETHROTTLED, true, marketplaceRetryAfter, marketplaceFix},
		{"use case form", notFound(useCaseMissing), recall.ETHROTTLED, true, 15 * time.Minute, useCaseFix},
		{"use case form, no wait named", notFound(useCaseMissingBare), recall.ETHROTTLED, true, useCaseRetryAfter, useCaseFix},
		// Not pending: these stay as they were.
		{"IAM", denied(iamDenied), recall.EPERMISSION, false, 0, []string{"may not call bedrock:InvokeModel on " + model, "allow it in IAM"}},
		{"model not offered", denied("You don't have access to the model with the specified model ID."), recall.EPERMISSION, false, 0,
			[]string{"Bedrock denied access to " + model, "aws bedrock get-foundation-model-availability --region us-east-1 --model-id anthropic.claude-haiku-4-5-20251001-v1:0"}},
		{"model not found", notFound("Model not found. Please check the model identifier and try again."), recall.EINVALID, false, 0, []string{"BEDROCK_MODEL_ID"}},
		{"throttled", &types.ThrottlingException{Message: aws.String("Too many requests, please wait before trying again.")}, recall.ETHROTTLED, false, 0, []string{"throttling"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := classify(tt.err, model, region)
			err := error(c.err)
			if got := recall.ErrorCode(err); got != tt.code {
				t.Fatalf("code %q; want %q (%v)", got, tt.code, err)
			}
			if !recall.Retryable(err) != (tt.code == recall.EPERMISSION || tt.code == recall.EINVALID) {
				t.Errorf("retryable %v for code %s", recall.Retryable(err), tt.code)
			}
			if got := errors.Is(err, ErrModelAccessPending); got != tt.pending {
				t.Errorf("errors.Is(err, ErrModelAccessPending) = %v; want %v", got, tt.pending)
			}
			if !errors.Is(err, tt.err) {
				t.Error("the SDK's error is not in the chain: logs would lose Bedrock's own words")
			}
			if got := recall.RetryAfter(err); got != tt.retryAfter {
				t.Errorf("RetryAfter %s; want %s", got, tt.retryAfter)
			}
			msg := recall.ErrorMessage(err)
			for _, want := range tt.message {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q\nlacks %q", msg, want)
				}
			}
			if tt.pending {
				// The message reaches /api/health, which is public.
				if strings.Contains(msg, "123456789012") || strings.Contains(msg, "arn:") {
					t.Errorf("message %q shows the account or role", msg)
				}
				if c.throttle {
					t.Error("a pending subscription slows the limiter, but the quota is not the problem")
				}
				if !c.config || !c.refused {
					t.Errorf("config %v refused %v; want both: it concerns every call, and no tokens were spent", c.config, c.refused)
				}
			}
		})
	}
}

func TestNamedWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		msg  string
		want time.Duration
	}{
		{"If you recently fixed this issue, try again after 2 minutes.", 2 * time.Minute},
		{"If you have already filled out the form, try again in 15 minutes.", 15 * time.Minute},
		{"Try again after 1 minute.", time.Minute},
		{"try again after 0 minutes", minAccessRetryAfter},
		{"try again after 600 minutes", maxAccessRetryAfter},
		{"try again later", 7 * time.Minute},
		{"", 7 * time.Minute},
	}
	for _, tt := range tests {
		if got := namedWait(tt.msg, 7*time.Minute); got != tt.want {
			t.Errorf("namedWait(%q) = %s; want %s", tt.msg, got, tt.want)
		}
	}
}
