// Package awslambda holds the code that calls the AWS Lambda API: the
// Nudger that lets the create function start the process function the
// moment a job is enqueued, instead of leaving it for the next scheduled
// drain. It wraps github.com/aws/aws-sdk-go-v2/service/lambda and nothing
// else.
package awslambda

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"recall/internal/recall"
)

// DefaultTimeout bounds one nudge. An asynchronous Invoke normally answers
// in tens of milliseconds; past this the create request stops waiting, logs
// the failure and answers anyway, because the job is already in the queue
// and the scheduled drain will reach it.
const DefaultTimeout = 2 * time.Second

// Nudger implements recall.Nudger with an asynchronous Lambda Invoke
// (InvocationType Event) of the process function carrying
// {"conversation_id", "owner"}: the direct event the process function
// analyses at once.
//
// Cost and limits: each create costs one async Invoke request. Lambda queues
// the event and answers 202 before the process function runs, so a busy or
// throttled process function (reserved concurrency exhausted) never slows
// create; Lambda's async queue retries throttled events, and the scheduled
// drain is the backstop for any nudge that is lost or expires.
type Nudger struct {
	client   *lambda.Client
	function string
	timeout  time.Duration
}

var _ recall.Nudger = (*Nudger)(nil)

// NewNudger returns a Nudger that invokes function (a name, a partial or a
// full ARN) through client, each call bounded by DefaultTimeout.
func NewNudger(client *lambda.Client, function string) *Nudger {
	return &Nudger{client: client, function: function, timeout: DefaultTimeout}
}

// WithTimeout returns a copy of n whose nudges give up after d instead of
// DefaultTimeout; d <= 0 keeps the default.
func (n *Nudger) WithTimeout(d time.Duration) *Nudger {
	c := *n
	if d > 0 {
		c.timeout = d
	}
	return &c
}

// Function returns the function the Nudger invokes, for logs and doctor.
func (n *Nudger) Function() string { return n.function }

// Event is the payload a nudge carries: the direct event the process
// function accepts.
type Event struct {
	ConversationID string `json:"conversation_id"`
	Owner          string `json:"owner"`
}

// Nudge asks Lambda to run the process function for job's conversation and
// returns once Lambda has queued the event. It makes one attempt, within
// the Nudger's timeout: a retry would only delay create, and a job whose
// nudge failed is still in the queue.
func (n *Nudger) Nudge(ctx context.Context, job recall.Job) error {
	payload, err := json.Marshal(Event{ConversationID: job.ConversationID, Owner: job.Owner})
	if err != nil {
		return fmt.Errorf("awslambda: nudge %s: encode event: %w", job.ConversationID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	out, err := n.client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   &n.function,
		InvocationType: types.InvocationTypeEvent,
		Payload:        payload,
	}, func(o *lambda.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		return fmt.Errorf("awslambda: nudge %s for %s: %w", n.function, job.ConversationID, err)
	}
	if out.FunctionError != nil {
		// Only a synchronous invocation reports this; an emulator that runs
		// the event at once may.
		return fmt.Errorf("awslambda: nudge %s for %s: function error %s", n.function, job.ConversationID, *out.FunctionError)
	}
	return nil
}
