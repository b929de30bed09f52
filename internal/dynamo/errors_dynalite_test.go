package dynamo_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"recall/internal/dynamo"
	"recall/internal/recall"
	"recall/internal/testenv"
)

// TestProbeErrorCodes runs Probe and CreateTable against dynalite and
// against endpoints where nothing usable answers, and checks the domain code
// and the fix each failure carries: what recall doctor prints.
func TestProbeErrorCodes(t *testing.T) {
	endpoint := testenv.StartDynalite(t)
	stopped := closedPort(t)
	hangsUp := hangUpServer(t)
	tests := []struct {
		name     string
		endpoint string
		create   bool // CreateTable rather than Probe
		code     string
		says     string
	}{
		{"missing table", endpoint, false, recall.ENOTFOUND, "does not exist: deploy the stack or set RECALL_CREATE_TABLE=true"},
		{"stopped server", stopped, false, recall.EUNAVAILABLE, "nothing answers at " + stopped},
		{"stopped server, create table", stopped, true, recall.EUNAVAILABLE, "nothing answers at " + stopped},
		{"server hangs up", hangsUp, false, recall.EUNAVAILABLE, "nothing answers at " + hangsUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			s := dynamo.New(testenv.DynamoClient(t, tt.endpoint), "missing-"+strings.ReplaceAll(tt.name, " ", "-"), dynamo.Options{})
			var err error
			if tt.create {
				err = s.CreateTable(ctx)
			} else {
				err = s.Probe(ctx)
			}
			if code := recall.ErrorCode(err); code != tt.code {
				t.Fatalf("error %v has code %q, want %q", err, code, tt.code)
			}
			if msg := recall.ErrorMessage(err); !strings.Contains(msg, tt.says) {
				t.Errorf("message %q does not say %q", msg, tt.says)
			}
		})
	}
}

// TestProbeWithoutCredentials: with no credentials anywhere the SDK fails
// before asking DynamoDB; that is EUNAUTHORIZED, not an outage.
func TestProbeWithoutCredentials(t *testing.T) {
	endpoint := testenv.StartDynalite(t)
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
	} {
		t.Setenv(k, v)
	}
	cfg, err := awsconfig.LoadDefaultConfig(t.Context(), awsconfig.WithRegion("us-east-1"), awsconfig.WithBaseEndpoint(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	err = dynamo.New(dynamodb.NewFromConfig(cfg), "any", dynamo.Options{}).Probe(t.Context())
	if code := recall.ErrorCode(err); code != recall.EUNAUTHORIZED || !strings.Contains(recall.ErrorMessage(err), "no usable AWS credentials") {
		t.Fatalf("Probe without credentials = %v (code %q); want EUNAUTHORIZED naming the fix", err, code)
	}
}

// closedPort returns the URL of a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// hangUpServer returns the URL of a server that accepts connections and
// closes them without a word.
func hangUpServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return "http://" + l.Addr().String()
}
