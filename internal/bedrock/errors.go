package bedrock

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"recall/internal/recall"
)

// MissingCredentialsMessage is the error message when the SDK finds no
// credentials anywhere in its chain.
const MissingCredentialsMessage = "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run on a role"

// ErrModelAccessPending is in the chain of every error Analyze returns
// because the AWS account has not finished enabling the model: the AWS
// Marketplace subscription that the first call to a third-party model makes
// is missing or still being set up, or Anthropic's one-time use case form
// has not been submitted. Such an error has code recall.ETHROTTLED and a
// RetryAfter of what AWS says to wait, and its message says what a person
// must do; `recall doctor` can tell it from a busy quota with errors.Is.
var ErrModelAccessPending = errors.New("bedrock: the account has not finished enabling the model")

// Waits before a call refused for pending model access is retried, when
// Bedrock's message names none. After the missing Marketplace permission is
// granted "it may take up to 2 minutes for the subscription to complete";
// Anthropic's form says "try again in 15 minutes". A named wait is kept
// between one and fifteen minutes.
const (
	marketplaceRetryAfter = 5 * time.Minute
	useCaseRetryAfter     = 15 * time.Minute
	minAccessRetryAfter   = time.Minute
	maxAccessRetryAfter   = 15 * time.Minute
)

// credentialCodes are the front-door errors for credentials AWS does not
// accept (unknown key, bad signature, expired session).
var credentialCodes = map[string]bool{
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
	"IncompleteSignatureException":        true,
	"MissingAuthenticationTokenException": true,
	"InvalidClientTokenId":                true,
	"SignatureDoesNotMatch":               true,
	"ExpiredTokenException":               true,
	"ExpiredToken":                        true,
}

// unavailableCodes are Bedrock faults that are expected to clear by
// themselves; the queue retries them with backoff.
var unavailableCodes = map[string]string{
	"ServiceUnavailableException":   "Bedrock is temporarily unavailable",
	"InternalServerException":       "Bedrock had an internal error",
	"ModelTimeoutException":         "the model timed out processing the request",
	"ModelNotReadyException":        "the model is not ready to serve requests yet",
	"ModelErrorException":           "the model failed while processing the request",
	"ModelStreamErrorException":     "the model failed while processing the request",
	"ConflictException":             "Bedrock reported a conflicting request",
	"ServiceQuotaExceededException": "the account's Bedrock quota is used up for now",
	"RequestTimeout":                "Bedrock timed out reading the request",
	"RequestTimeoutException":       "Bedrock timed out reading the request",
}

// throttleCodes are the ways AWS says "slow down".
var throttleCodes = map[string]bool{
	"ThrottlingException":      true,
	"Throttling":               true,
	"TooManyRequestsException": true,
	"RequestLimitExceeded":     true,
}

// classification is an SDK error mapped to Recall's codes, with what the
// analyzer should do about it.
type classification struct {
	err *recall.Error
	// throttle slows the limiter (ThrottlingException, quota exhaustion).
	throttle bool
	// config marks a permanent error that concerns every conversation (model
	// access, credentials, model ID), which Health reports until a call
	// succeeds. Permanent errors about one conversation's content are not.
	config bool
	// refused is true when Bedrock refused the request before the model ran,
	// so the tokens reserved for it were not spent.
	refused bool
}

// classify maps an error from Converse to a recall.Error by type and by the
// x-amzn-ErrorType code:
//
//	ThrottlingException                       → ETHROTTLED (limiter slowed; retried without spending an attempt)
//	model access pending: AccessDenied naming AWS Marketplace, or Anthropic's
//	use case form not submitted               → ETHROTTLED with RetryAfter minutes (ErrModelAccessPending; says what to do)
//	ServiceUnavailable, InternalServer, ModelTimeout, ModelNotReady, ModelError,
//	ServiceQuotaExceeded, connection errors, 5xx, timeouts → EUNAVAILABLE (retryable)
//	ValidationException, ResourceNotFound     → EINVALID (permanent)
//	AccessDeniedException                     → EPERMISSION (IAM or the model's availability; says what to do)
//	bad or missing credentials                → EPERMISSION
func classify(err error, model, region string) classification {
	if errors.Is(err, context.Canceled) {
		return classification{err: recall.Wrap(err, recall.EUNAVAILABLE, "the analysis was cancelled before Bedrock answered")}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return classification{err: recall.Wrap(err, recall.EUNAVAILABLE, "Bedrock did not answer before the analysis deadline")}
	}
	if missingCredentials(err) {
		return classification{err: recall.Wrap(err, recall.EPERMISSION, MissingCredentialsMessage), config: true, refused: true}
	}

	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code, msg := apiErr.ErrorCode(), apiErr.ErrorMessage()
		if c, ok := accessPending(err, code, msg, model, region); ok {
			return c
		}
		switch {
		case throttleCodes[code]:
			return classification{err: recall.Wrap(err, recall.ETHROTTLED, "Bedrock is throttling requests for "+model+" in "+region), throttle: true, refused: true}
		case code == "ServiceQuotaExceededException":
			return classification{err: recall.Wrap(err, recall.EUNAVAILABLE, unavailableCodes[code]+" (Service Quotas shows the limits for "+model+")"), throttle: true, refused: true}
		case unavailableCodes[code] != "":
			return classification{err: recall.Wrap(err, recall.EUNAVAILABLE, unavailableCodes[code])}
		case code == "AccessDeniedException":
			if strings.Contains(msg, "not authorized to perform") {
				return classification{err: recall.Wrap(err, recall.EPERMISSION, fmt.Sprintf("the AWS identity may not call bedrock:InvokeModel on %s in %s: allow it in IAM", model, region)), config: true, refused: true}
			}
			return classification{err: recall.Wrap(err, recall.EPERMISSION, fmt.Sprintf("Bedrock denied access to %s in %s: check that the account may use the model there (aws bedrock get-foundation-model-availability --region %s --model-id %s) and that no SCP or permissions boundary denies bedrock:InvokeModel", model, region, region, BaseModelID(model))), config: true, refused: true}
		case credentialCodes[code]:
			return classification{err: recall.Wrap(err, recall.EPERMISSION, fmt.Sprintf("AWS rejected the credentials (%s): check AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or refresh the session", code)), config: true, refused: true}
		case code == "ResourceNotFoundException":
			return classification{err: recall.Wrap(err, recall.EINVALID, fmt.Sprintf("model %s was not found in %s: check BEDROCK_MODEL_ID (aws bedrock list-foundation-models)", model, region)), config: true, refused: true}
		case code == "ValidationException":
			return validation(err, msg, model, region)
		}
		// An unmodelled code: decide by HTTP status.
		var respErr *smithyhttp.ResponseError
		if errors.As(err, &respErr) {
			switch s := respErr.HTTPStatusCode(); {
			case s == http.StatusTooManyRequests:
				return classification{err: recall.Wrap(err, recall.ETHROTTLED, "Bedrock is throttling requests for "+model+" in "+region), throttle: true, refused: true}
			case s == http.StatusUnauthorized || s == http.StatusForbidden:
				return classification{err: recall.Wrap(err, recall.EPERMISSION, fmt.Sprintf("Bedrock refused access (%s): check the credentials and model access for %s in %s", code, model, region)), config: true, refused: true}
			case s >= 400 && s < 500 && s != http.StatusRequestTimeout:
				return classification{err: recall.Wrap(err, recall.EINVALID, fmt.Sprintf("Bedrock refused the request (%s): %s", code, msg)), refused: true}
			}
		}
		return classification{err: recall.Wrap(err, recall.EUNAVAILABLE, fmt.Sprintf("Bedrock failed (%s)", code))}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusTooManyRequests {
		return classification{err: recall.Wrap(err, recall.ETHROTTLED, "Bedrock is throttling requests for "+model+" in "+region), throttle: true, refused: true}
	}
	// Connection refused or reset, DNS, TLS, a truncated or garbled answer:
	// the SDK already retried once; the queue retries later.
	return classification{err: recall.Wrap(err, recall.EUNAVAILABLE, "could not get an answer from Bedrock Runtime in "+region)}
}

// accessPending recognises Bedrock's refusals for a model the account has
// not finished enabling, which are neither a missing bedrock:InvokeModel
// permission nor permanent:
//
//   - AccessDeniedException "Model access is denied due to IAM user or
//     service role is not authorized to perform the required AWS Marketplace
//     actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe)
//     … try again after 2 minutes", or "… is not authorized to perform:
//     aws-marketplace:Subscribe on resource: *": a third-party model's first
//     call subscribes the account through AWS Marketplace, and this identity
//     may not. Once anyone allowed to subscribes (one call), every role in
//     the account can invoke the model.
//   - ResourceNotFoundException (FTUFormNotFilled) "Model use case details
//     have not been submitted for this account … try again in 15 minutes":
//     Anthropic's one-time form.
//
// Each is retried after the wait Bedrock names (ETHROTTLED, so the queue
// keeps the job without spending its attempts, with RetryAfter), and the
// message says what to do. Bedrock's own text is not shown: it names the
// role and account, and the message reaches the public health check.
func accessPending(err error, code, msg, model, region string) (classification, bool) {
	low := strings.ToLower(msg)
	var text string
	var wait time.Duration
	switch {
	case strings.Contains(low, "use case details"):
		wait = namedWait(msg, useCaseRetryAfter)
		text = fmt.Sprintf("Anthropic requires this AWS account's use case details before %s can be called: "+
			"submit them once in the Bedrock console (Model catalog, open the model) or with aws bedrock put-use-case-for-model-access "+
			"(from the organization's management account to cover every account); access follows within 15 minutes, "+
			"and analyses wait and retry by themselves about every %s", model, minutes(wait))
	case code == "AccessDeniedException" && strings.Contains(low, "marketplace"):
		wait = namedWait(msg, marketplaceRetryAfter)
		text = fmt.Sprintf("Bedrock has not enabled %s for this AWS account yet: the first call to a third-party model subscribes the account "+
			"in AWS Marketplace, which this identity may not do (aws-marketplace:Subscribe, aws-marketplace:ViewSubscriptions). "+
			"Have an administrator make that first call once: aws bedrock-runtime converse --region %s --model-id %s "+
			`--messages '[{"role":"user","content":[{"text":"hello"}]}]'`+
			"; the subscription completes within minutes, and analyses wait and retry by themselves about every %s", model, region, model, minutes(wait))
	default:
		return classification{}, false
	}
	e := &recall.Error{Code: recall.ETHROTTLED, Message: text, Err: fmt.Errorf("%w: %w", ErrModelAccessPending, err), RetryAfter: wait}
	// Not throttle: the quota is not the problem, so the limiter keeps its pace.
	return classification{err: e, config: true, refused: true}, true
}

var tryAgain = regexp.MustCompile(`(?i)try again (?:after|in) (\d+) minute`)

// namedWait is the wait a Bedrock message names ("try again after 2
// minutes"), kept within [minAccessRetryAfter, maxAccessRetryAfter], or def.
func namedWait(msg string, def time.Duration) time.Duration {
	m := tryAgain.FindStringSubmatch(msg)
	if m == nil {
		return def
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return def
	}
	return min(max(time.Duration(n)*time.Minute, minAccessRetryAfter), maxAccessRetryAfter)
}

// minutes words a whole number of minutes after "every": "minute", "5 minutes".
func minutes(d time.Duration) string {
	n := int(d / time.Minute)
	if n == 1 {
		return "minute"
	}
	return strconv.Itoa(n) + " minutes"
}

// strictRefused reports whether err is Bedrock refusing strict tool use
// (structured outputs) for this model or region: a ValidationException that
// names "strict" or structured outputs, such as "The model returned the
// following errors: tools.0.custom.strict: Extra inputs are not permitted".
// The call can be made again without it; the reply is validated against the
// schema either way.
func strictRefused(err error) bool {
	return validationSays(err, "strict", "structured output")
}

// validationSays reports whether err is a ValidationException whose message
// holds one of the lower-case phrases.
func validationSays(err error, phrases ...string) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
		return false
	}
	low := strings.ToLower(apiErr.ErrorMessage())
	return slices.ContainsFunc(phrases, func(p string) bool { return strings.Contains(low, p) })
}

// validation words a ValidationException so a person knows what to change.
// Those about the model ID concern every call; others (an input too long for
// the model, say) concern this conversation only.
func validation(err error, msg, model, region string) classification {
	switch low := strings.ToLower(msg); {
	case strings.Contains(low, "on-demand throughput"):
		return classification{err: recall.Wrap(err, recall.EINVALID, fmt.Sprintf("model %s cannot be called on-demand by its bare ID in %s: set BEDROCK_MODEL_ID to an inference profile ID such as us.%s (aws bedrock list-inference-profiles)", model, region, BaseModelID(model))), config: true, refused: true}
	case strings.Contains(low, "model identifier is invalid"):
		return classification{err: recall.Wrap(err, recall.EINVALID, fmt.Sprintf("model %s is not a valid model ID in %s: check BEDROCK_MODEL_ID (aws bedrock list-foundation-models)", model, region)), config: true, refused: true}
	}
	return classification{err: recall.Wrap(err, recall.EINVALID, "Bedrock refused the request as invalid: "+msg), refused: true}
}

// missingCredentials recognises the SDK's failure to find credentials. The
// SDK has no error type for it, so the chain's wording is matched: the
// credential cache's "failed to refresh cached credentials", the signer's
// "failed to retrieve credentials", the auth middleware's "get identity".
func missingCredentials(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return false // the request was answered: credentials existed
	}
	s := err.Error()
	return strings.Contains(s, "failed to refresh cached credentials") ||
		strings.Contains(s, "failed to retrieve credentials") ||
		strings.Contains(s, "get identity:") ||
		strings.Contains(s, "could not select an auth scheme")
}
