package dynamo_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"recall/internal/dynamo"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
	"recall/internal/testenv"
)

// failNthDelete fails the nth DeleteItem sent after it is armed, as a
// process dying between two writes would leave them.
type failNthDelete struct {
	left atomic.Int32 // deletes to let through before failing one; <0 off
}

func (f *failNthDelete) option(o *dynamodb.Options) {
	o.RetryMaxAttempts = 1
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("fail-nth-delete",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if _, ok := in.Parameters.(*dynamodb.DeleteItemInput); ok && f.left.Add(-1) == -1 {
					return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "InternalServerError", Message: "injected failure"}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	})
}

// TestDeleteFailingHalfwayBringsNothingBack: with no transactions, a delete
// is two deletes (the idempotency key, then the conversation). If the
// second fails, what is left must not let a create retried with the key
// complete under the deleted conversation's ID; the conversation is still
// there, and deleting it again finishes the job. Swapping the two deletes
// fails this test.
func TestDeleteFailingHalfwayBringsNothingBack(t *testing.T) {
	ctx := t.Context()
	endpoint := testenv.StartDynalite(t)
	table := newStore(t, testenv.DynamoClient(t, endpoint)).Table()
	fault := &failNthDelete{}
	fault.left.Store(1 << 30)
	s := dynamo.New(testenv.DynamoClient(t, endpoint, fault.option), table, dynamo.Options{})
	key := func() *recall.Idempotency {
		return &recall.Idempotency{Key: "k1", Fingerprint: "body-1", Expires: time.Now().Add(time.Hour)}
	}
	c, created, err := s.Create(ctx, recalltest.NewConversation("alice", time.Now()), key())
	if err != nil || !created {
		t.Fatalf("Create = (created %v, %v)", created, err)
	}

	fault.left.Store(1) // the first delete goes through, the second fails
	if _, err := s.Delete(ctx, "alice", c.ID); err == nil {
		t.Fatal("Delete succeeded with its second write failing")
	}
	_, getErr := s.Get(ctx, "alice", c.ID)
	retried, _, err := s.Create(ctx, recalltest.NewConversation("alice", time.Now()), key())
	if err != nil {
		t.Fatalf("create retried with the key: %v", err)
	}
	if retried.ID == c.ID && recall.ErrorCode(getErr) == recall.ENOTFOUND {
		t.Fatalf("a create retried with the key brought back the deleted conversation %s", c.ID)
	}
	if getErr != nil {
		t.Fatalf("after a failed delete the conversation is neither there nor safely gone: %v", getErr)
	}

	fault.left.Store(1 << 30)
	if _, err := s.Delete(ctx, "alice", c.ID); err != nil {
		t.Fatalf("retried Delete: %v", err)
	}
	_, err = s.Get(ctx, "alice", c.ID)
	recalltest.WantCode(t, err, recall.ENOTFOUND)
}
