package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DynamoEndpointEnv names the variable that points the DynamoDB tests at an
// already running server (dynalite, LocalStack, DynamoDB Local) instead of
// starting dynalite.
const DynamoEndpointEnv = "DYNAMODB_TEST_ENDPOINT"

// dynaliteStartTimeout bounds how long a fresh dynalite may take to answer;
// node starts in well under a second, but the machine may be busy.
const dynaliteStartTimeout = 20 * time.Second

// StartDynalite returns the endpoint URL of a DynamoDB-compatible server for
// this test. With DYNAMODB_TEST_ENDPOINT set it returns that; otherwise it
// starts the repository's pinned dynalite (in memory) on a free loopback
// port and kills it when the test ends. Tests sharing one endpoint must use
// distinct table names.
func StartDynalite(t testing.TB) string {
	t.Helper()
	SkipShort(t, "starts dynalite")
	if ep := os.Getenv(DynamoEndpointEnv); ep != "" {
		return ep
	}
	root, err := dynaliteRepoRoot()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cli := filepath.Join(root, "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		t.Fatalf("testenv: dynalite is not installed (%v): run npm ci at the repo root", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("testenv: node is needed to run dynalite: %v", err)
	}
	port := freePort(t, false)
	// Tables become ACTIVE at once, so each test can make its own quickly.
	cmd := exec.Command(node, cli, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.Dir = root
	setParentDeathSignal(cmd)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start dynalite: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(dynaliteStartTimeout)
	for {
		select {
		case <-exited:
			t.Fatalf("testenv: dynalite exited at start: %s", out.String())
		default:
		}
		if dynaliteAnswers(endpoint) {
			return endpoint
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: dynalite did not answer on %s within %s: %s", endpoint, dynaliteStartTimeout, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dynaliteAnswers reports whether a DynamoDB endpoint speaks the protocol: any JSON
// error for an unsigned request counts.
func dynaliteAnswers(endpoint string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader("{}"))
	if err != nil {
		return false
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode > 0
}

// DynamoClient returns a DynamoDB client for endpoint with dummy static
// credentials in us-east-1, which is all dynalite and LocalStack need.
// Extra option functions (request counters, say) are applied last.
func DynamoClient(t testing.TB, endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	t.Helper()
	opts := dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	return dynamodb.New(opts, optFns...)
}

// dynaliteRepoRoot walks up from the working directory (the package under test) to
// the directory holding go.mod.
func dynaliteRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
