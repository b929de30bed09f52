package bedrock_test

import (
	"context"
	"strings"
	"testing"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/recall"
)

// These tests change the process environment, so they are not parallel (Go
// runs parallel tests only after the sequential ones have finished).

// isolate clears every source of AWS settings the SDK would read.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_DEFAULT_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_CONFIG_FILE": dir + "/config", "AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "",
		"AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "", "AWS_BEARER_TOKEN_BEDROCK": "",
		"AWS_MAX_ATTEMPTS": "", "AWS_RETRY_MODE": "", "AWS_CA_BUNDLE": "",
	} {
		t.Setenv(k, v)
	}
}

func TestMissingCredentialsIsPermission(t *testing.T) {
	isolate(t)
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	c, err := bedrock.NewClient(context.Background(), "", bedrock.WithBaseEndpoint(s.URL))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Options().Region; got != bedrock.DefaultRegion {
		t.Errorf("region %q, want the default %q", got, bedrock.DefaultRegion)
	}
	a := bedrock.New(c, bedrock.Options{})
	_, err = a.Analyze(context.Background(), in(meeting))
	if recall.ErrorCode(err) != recall.EPERMISSION || recall.Retryable(err) {
		t.Fatalf("err = %v, want permanent EPERMISSION", err)
	}
	if recall.ErrorMessage(err) != bedrock.MissingCredentialsMessage {
		t.Errorf("message %q", recall.ErrorMessage(err))
	}
	if len(s.Requests()) != 0 {
		t.Errorf("an unsigned request reached Bedrock")
	}
	if _, herr := a.Health(context.Background()); herr == nil || !strings.Contains(herr.Error(), "no AWS credentials found") {
		t.Errorf("Health = %v", herr)
	}
}

func TestNewClientHonoursTheSDKEnvironment(t *testing.T) {
	for _, env := range []string{"AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"} {
		t.Run(env, func(t *testing.T) {
			isolate(t)
			s := bedrocktest.NewServer(t, bedrocktest.Options{Region: "eu-west-1"})
			t.Setenv(env, s.URL)
			t.Setenv("AWS_REGION", "eu-west-1")
			t.Setenv("AWS_ACCESS_KEY_ID", bedrocktest.AccessKeyID)
			t.Setenv("AWS_SECRET_ACCESS_KEY", bedrocktest.SecretAccessKey)
			c, err := bedrock.NewClient(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			got, err := bedrock.New(c, bedrock.Options{ModelID: "eu." + bedrock.ModelClaudeHaiku45}).Analyze(context.Background(), in(meeting))
			if err != nil {
				t.Fatal(err)
			}
			if got.Calls != 1 || len(s.Requests()) != 1 || s.Requests()[0].Region != "eu-west-1" {
				t.Errorf("request did not reach the fake signed for eu-west-1: %+v", s.Requests())
			}
		})
	}
}

func TestWithBaseEndpointWinsOverTheEnvironment(t *testing.T) {
	isolate(t)
	s := bedrocktest.NewServer(t, bedrocktest.Options{})
	t.Setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "http://127.0.0.1:1")
	c, err := bedrock.NewClient(context.Background(), "us-east-1", bedrock.WithBaseEndpoint(s.URL), bedrock.WithCredentials(s.Credentials()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bedrock.New(c, bedrock.Options{}).Analyze(context.Background(), in(meeting)); err != nil {
		t.Fatal(err)
	}
}

func TestBedrockAPIKeyIsAccepted(t *testing.T) {
	isolate(t)
	s := bedrocktest.NewServer(t, bedrocktest.Options{BearerToken: "ABSKtest-api-key", TLS: true})
	t.Setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKtest-api-key")
	c, err := bedrock.NewClient(context.Background(), "us-east-1", bedrock.WithBaseEndpoint(s.URL), bedrock.WithHTTPClient(s.HTTPClient()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bedrock.New(c, bedrock.Options{}).Analyze(context.Background(), in(meeting)); err != nil {
		t.Fatal(err)
	}
	if h := s.Requests()[0].Header.Get("Authorization"); h != "Bearer ABSKtest-api-key" {
		t.Errorf("Authorization %q", h)
	}
}
