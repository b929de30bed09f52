package dynamo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"recall/internal/recall"
)

// op wraps err as the SDK returns a failed DynamoDB call.
func op(err error) error {
	return &smithy.OperationError{ServiceID: dynamodb.ServiceID, OperationName: "PutItem", Err: err}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	local := New(dynamodb.New(dynamodb.Options{Region: "eu-west-1", BaseEndpoint: aws.String("http://127.0.0.1:8000")}), "recall-test", Options{})
	inAWS := New(dynamodb.New(dynamodb.Options{Region: "eu-west-1"}), "recall-test", Options{})
	refused := &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name  string
		store *Store
		err   error
		code  string // "" for an error left as it is
		says  []string
	}{
		{"missing table", local, op(&types.ResourceNotFoundException{Message: aws.String("Requested resource not found")}),
			recall.ENOTFOUND, []string{"table recall-test does not exist", "deploy the stack", "RECALL_CREATE_TABLE=true"}},
		{"no credentials", local, op(fmt.Errorf("get identity: %w", &smithy.OperationError{ServiceID: "ec2imds", OperationName: "GetMetadata", Err: errors.New("no EC2 IMDS role found")})),
			recall.EUNAUTHORIZED, []string{"no usable AWS credentials", "AWS_ACCESS_KEY_ID"}},
		// The metadata service unreachable is still a credentials problem.
		{"no credentials, metadata service down", local, op(fmt.Errorf("get identity: %w", &smithy.OperationError{ServiceID: "ec2imds", Err: refused})),
			recall.EUNAUTHORIZED, []string{"no usable AWS credentials"}},
		{"unknown access key", local, op(&smithy.GenericAPIError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}),
			recall.EUNAUTHORIZED, []string{"refused the credentials", "AWS_REGION (now eu-west-1)"}},
		{"wrong secret key", local, op(&smithy.GenericAPIError{Code: "InvalidSignatureException"}),
			recall.EUNAUTHORIZED, []string{"refused the credentials"}},
		{"expired session", local, op(&smithy.GenericAPIError{Code: "ExpiredTokenException"}),
			recall.EUNAUTHORIZED, []string{"refused the credentials"}},
		{"access denied", local, op(&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: dynamodb:PutItem"}),
			recall.EPERMISSION, []string{"may not use table recall-test", "dynamodb:GetItem"}},
		{"throttled", local, op(&types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}),
			recall.ETHROTTLED, []string{"throttling", "recall-test"}},
		{"connection refused, local endpoint", local, op(refused),
			recall.EUNAVAILABLE, []string{"nothing answers at http://127.0.0.1:8000", "AWS_ENDPOINT_URL_DYNAMODB"}},
		{"connection refused, AWS", inAWS, op(refused),
			recall.EUNAVAILABLE, []string{"DynamoDB in eu-west-1 is unreachable"}},
		{"connection closed mid-answer", local, op(&smithy.DeserializationError{Err: io.ErrUnexpectedEOF}),
			recall.EUNAVAILABLE, []string{"nothing answers at"}},
		{"timeout", local, op(fmt.Errorf("send: %w", context.DeadlineExceeded)),
			recall.EUNAVAILABLE, []string{"nothing answers at"}},
		{"DNS", inAWS, op(&smithyhttp.RequestSendError{Err: &net.DNSError{Err: "no such host", Name: "dynamodb.eu-west-1.amazonaws.com"}}),
			recall.EUNAVAILABLE, []string{"unreachable"}},
		{"validation error is the caller's bug", local, op(&smithy.GenericAPIError{Code: "ValidationException"}), "", nil},
		{"unknown", local, errors.New("boom"), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.store.classify(tt.err)
			if tt.code == "" {
				if got != tt.err {
					t.Fatalf("classify(%v) = %v; want it unchanged", tt.err, got)
				}
				return
			}
			if code := recall.ErrorCode(got); code != tt.code {
				t.Fatalf("classify(%v) code = %q, want %q (%v)", tt.err, code, tt.code, got)
			}
			for _, s := range tt.says {
				if msg := recall.ErrorMessage(got); !strings.Contains(msg, s) {
					t.Errorf("message %q does not say %q", msg, s)
				}
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("the SDK's error is not kept as the cause: %v", got)
			}
		})
	}
	// A domain error passes through untouched.
	domain := recall.Errorf(recall.ECONFLICT, "taken")
	if got := local.classify(fmt.Errorf("dynamo: put: %w", domain)); recall.ErrorCode(got) != recall.ECONFLICT {
		t.Errorf("a wrapped domain error became %v", got)
	}
	if local.classify(nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}
