package bedrock

import (
	"context"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
)

// DefaultRegion is used when neither the caller nor the environment names one.
const DefaultRegion = "us-east-1"

// SDKMaxAttempts is how many times the SDK itself sends one Converse request.
//
// Two retry layers sit on top of each other: the SDK's retryer (per HTTP
// request) and Recall's queue (per analysis, with backoff, 5 attempts). If
// both retried everything, a Bedrock outage would multiply into 3×5 requests
// per conversation, and a throttled account would be hammered by SDK retries
// that bypass our pacing. So the SDK makes at most one quick second attempt,
// and only for faults that are usually gone a moment later (a dropped
// connection, HTTP 500/502/503/504); throttling, model timeouts and model
// errors go straight back to the analyzer, which slows its limiter and lets
// the queue retry with backoff (throttling without spending an attempt).
// Worst case: 2 × 5 = 10 requests per conversation run during an outage.
const SDKMaxAttempts = 2

// NewRetryer returns the tuned SDK retryer described at SDKMaxAttempts. The
// SDK's client-side retry quota is disabled because the analyzer's Limiter
// already paces calls and a "retry quota exceeded" error would only hide the
// real one.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = SDKMaxAttempts
		o.RateLimiter = ratelimit.None
		o.Retryables = []retry.IsErrorRetryable{
			retry.NoRetryCanceledError{},
			retry.RetryableConnectionError{},
			retry.RetryableHTTPStatusCode{Codes: map[int]struct{}{500: {}, 502: {}, 503: {}, 504: {}}},
		}
	})
}

// ClientOption adjusts NewClient.
type ClientOption func(*clientOptions)

type clientOptions struct {
	baseEndpoint string
	credentials  aws.CredentialsProvider
	httpClient   *http.Client
}

// WithBaseEndpoint sends requests to url instead of the regional Bedrock
// Runtime endpoint (a VPC endpoint, a proxy, or a test fake). Without it the
// SDK's own AWS_ENDPOINT_URL_BEDROCK_RUNTIME and AWS_ENDPOINT_URL variables
// still apply.
func WithBaseEndpoint(url string) ClientOption {
	return func(o *clientOptions) { o.baseEndpoint = url }
}

// WithCredentials replaces the default credential chain (environment, shared
// profile, SSO, container or instance role) with p.
func WithCredentials(p aws.CredentialsProvider) ClientOption {
	return func(o *clientOptions) { o.credentials = p }
}

// WithHTTPClient sets the HTTP client, e.g. to bound connection setup.
func WithHTTPClient(c *http.Client) ClientOption {
	return func(o *clientOptions) { o.httpClient = c }
}

// NewClient loads the AWS configuration the standard way
// (config.LoadDefaultConfig: environment, shared files, roles) for region
// (DefaultRegion when empty and AWS_REGION is unset) and returns a Bedrock
// Runtime client using the tuned retryer. It does not contact AWS, so missing
// credentials surface on the first Analyze as EPERMISSION, not here.
func NewClient(ctx context.Context, region string, opts ...ClientOption) (*bedrockruntime.Client, error) {
	var o clientOptions
	for _, fn := range opts {
		fn(&o)
	}
	load := []func(*config.LoadOptions) error{
		config.WithRetryer(NewRetryer),
	}
	if region != "" {
		load = append(load, config.WithRegion(region))
	}
	if o.credentials != nil {
		load = append(load, config.WithCredentialsProvider(o.credentials))
	}
	if o.httpClient != nil {
		load = append(load, config.WithHTTPClient(o.httpClient))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("bedrock: load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	return bedrockruntime.NewFromConfig(cfg, func(co *bedrockruntime.Options) {
		// Set on the client, not the config: the SDK lets
		// AWS_ENDPOINT_URL_BEDROCK_RUNTIME override a config-level endpoint,
		// and an explicit option should win over the environment.
		if o.baseEndpoint != "" {
			co.BaseEndpoint = aws.String(o.baseEndpoint)
		}
	}), nil
}
