package testenv_test

import (
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"recall/internal/testenv"
)

func TestStartDynalite(t *testing.T) {
	testenv.SkipShort(t, "starts dynalite")
	t.Setenv(testenv.DynamoEndpointEnv, "")
	var endpoint string
	t.Run("serves", func(t *testing.T) {
		endpoint = testenv.StartDynalite(t)
		client := testenv.DynamoClient(t, endpoint)
		if _, err := client.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("ListTables on %s: %v", endpoint, err)
		}
	})
	// The subtest's cleanup stopped the server.
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("endpoint %q is not on loopback", endpoint)
	}
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Fatalf("dynalite still answers on %s after its test ended", u.Host)
	}
}

func TestStartDynaliteUsesEndpointEnv(t *testing.T) {
	t.Setenv(testenv.DynamoEndpointEnv, "http://127.0.0.1:4566")
	if got := testenv.StartDynalite(t); got != "http://127.0.0.1:4566" {
		t.Fatalf("StartDynalite = %q, want the endpoint from %s", got, testenv.DynamoEndpointEnv)
	}
}
