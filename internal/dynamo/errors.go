package dynamo

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"recall/internal/recall"
)

// API error codes DynamoDB answers when it refuses the caller's identity
// rather than its permissions.
var refusedCredentials = map[string]bool{
	"UnrecognizedClientException":  true, // unknown access key
	"InvalidSignatureException":    true, // wrong secret key, or a clock far off
	"InvalidClientTokenId":         true,
	"ExpiredTokenException":        true, // expired session credentials
	"MissingAuthenticationToken":   true,
	"IncompleteSignatureException": true,
}

// classify turns the errors an operator can fix (a missing table, refused
// credentials, denied access, an endpoint that does not answer) into domain
// errors whose message says what to fix, keeping the SDK's error as the
// cause; any other error is returned as it is. It is used on the paths an
// operator reads (Probe, CreateTable), not on the data path, where the
// service answers every store failure as unavailable without naming the
// table, the endpoint or the credentials to API clients.
//
//   - ENOTFOUND: the table does not exist;
//   - EUNAUTHORIZED: no usable credentials, or DynamoDB refused them;
//   - EPERMISSION: the credentials may not use the table;
//   - ETHROTTLED: DynamoDB asked to slow down;
//   - EUNAVAILABLE: nothing answered, or not in time.
func (s *Store) classify(err error) error {
	var domain *recall.Error
	if err == nil || errors.As(err, &domain) {
		return err
	}
	var missing *types.ResourceNotFoundException
	var api smithy.APIError
	switch {
	case errors.As(err, &missing):
		return recall.Wrap(err, recall.ENOTFOUND, "table "+s.table+" does not exist: deploy the stack or set RECALL_CREATE_TABLE=true locally (or fix DYNAMODB_TABLE)")
	case credentialsFailed(err):
		return recall.Wrap(err, recall.EUNAUTHORIZED, "no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values, e.g. test/test, for a local DynamoDB)")
	case errors.As(err, &api) && refusedCredentials[api.ErrorCode()]:
		return recall.Wrap(err, recall.EUNAUTHORIZED, "DynamoDB refused the credentials: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, and AWS_REGION (now "+s.region()+")")
	case errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException":
		return recall.Wrap(err, recall.EPERMISSION, "the credentials may not use table "+s.table+": allow dynamodb:GetItem, PutItem, UpdateItem, DeleteItem, Query and Scan on it")
	case errors.As(err, &api) && isThrottle(api.ErrorCode()):
		return recall.Wrap(err, recall.ETHROTTLED, "DynamoDB is throttling requests to table "+s.table+": retry later, or raise its capacity")
	case unreachable(err):
		if ep := s.endpoint(); ep != "" {
			return recall.Wrap(err, recall.EUNAVAILABLE, "nothing answers at "+ep+": start the local DynamoDB there (docker compose up -d localstack, or dynalite), or fix AWS_ENDPOINT_URL_DYNAMODB")
		}
		return recall.Wrap(err, recall.EUNAVAILABLE, "DynamoDB in "+s.region()+" is unreachable: check the network path and AWS_REGION, or set AWS_ENDPOINT_URL_DYNAMODB for a local stack")
	}
	return err
}

// credentialsFailed reports whether err arose while getting credentials,
// before DynamoDB was asked anything: the SDK then wraps an operation of
// another service (the instance metadata service, STS, SSO) inside the
// DynamoDB operation. Checked before unreachable, since failing to reach
// the metadata service is a credentials problem, not a DynamoDB outage.
func credentialsFailed(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if op, ok := e.(*smithy.OperationError); ok && op.ServiceID != dynamodb.ServiceID {
			return true
		}
	}
	return false
}

func isThrottle(code string) bool {
	switch code {
	case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded":
		return true
	}
	return false
}

// unreachable reports whether err says nothing usable answered: the request
// could not be sent or its answer not read, or the time ran out.
func unreachable(err error) bool {
	var send *smithyhttp.RequestSendError
	var netErr net.Error
	return errors.As(err, &send) || errors.As(err, &netErr) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// endpoint is the DynamoDB endpoint the client was pointed at
// (AWS_ENDPOINT_URL_DYNAMODB or AWS_ENDPOINT_URL), or "" for AWS's own.
func (s *Store) endpoint() string {
	if ep := s.client.Options().BaseEndpoint; ep != nil {
		return *ep
	}
	return ""
}

func (s *Store) region() string { return s.client.Options().Region }
