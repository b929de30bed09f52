package recall

import (
	"context"
	"time"
)

// Queue carries jobs from create to the worker. Every implementation must pass
// recalltest.Queue, which pins down the semantics below.
//
// Fairness: one owner's backlog must not starve another's. A queue counts
// each owner's outstanding jobs; a job whose owner already has the fair
// share (DefaultFairShare unless configured) outstanding waits in an
// overflow lane of its priority, which is served only when the priority's
// normal lane is empty. The weights between priorities are unchanged, and
// no work waits while a worker is free.
//
// Delivery is at least once: a received job that is neither acked, retried
// nor dead-lettered within the backend's visibility timeout is delivered
// again. Workers therefore ack only after the store write, and the store's
// conditional writes make a second delivery harmless.
type Queue interface {
	// Enqueue adds job. It is idempotent per Job.Key while the job is
	// outstanding (waiting, in flight or scheduled for retry): enqueueing it
	// again is a no-op that returns nil. This is what lets the sweeper
	// re-enqueue anything that looks stuck without doubling work.
	Enqueue(ctx context.Context, job Job) error

	// Receive returns up to max jobs, high priority before default before
	// low without starving low, waiting up to wait for the first one. It
	// returns an empty slice, not an error, when none arrived in time.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Job, error)

	// Ack removes delivered jobs for good. Acking a job twice is harmless.
	Ack(ctx context.Context, jobs ...Job) error

	// Retry acknowledges job's delivery (if it has a Receipt) and makes job
	// (with whatever Attempt the caller set) deliverable again after delay.
	Retry(ctx context.Context, job Job, delay time.Duration) error

	// DeadLetter acknowledges job's delivery and parks it with reason where
	// an operator can list and redrive it.
	DeadLetter(ctx context.Context, job Job, reason string) error

	// Stats reports depth and health figures for monitoring.
	Stats(ctx context.Context) (QueueStats, error)

	// Ping checks the queue answers, cheaply, for health checks.
	Ping(ctx context.Context) error
}

// DefaultFairShare is how many outstanding jobs an owner may have before
// their further jobs wait behind everyone else's: twice a worker's default
// concurrency, so one owner can still fill a worker while nobody else has
// work, and another owner's jobs wait behind at most this many of theirs.
const DefaultFairShare = 16

// QueueStats is what operators watch: how much waits, how long, and who works.
type QueueStats struct {
	// Depth counts jobs waiting for delivery, per priority.
	Depth map[Priority]int64 `json:"depth"`
	// InFlight counts jobs delivered and not yet acked.
	InFlight int64 `json:"in_flight"`
	// OldestAge is how long the oldest waiting job has waited.
	OldestAge time.Duration `json:"oldest_age_ns"`
	// Scheduled counts jobs waiting out a retry delay.
	Scheduled int64 `json:"scheduled"`
	// Dead counts dead letters.
	Dead int64 `json:"dead"`
	// Consumers lists the workers the backend knows of.
	Consumers []ConsumerStats `json:"consumers,omitempty"`
	// Warnings are configuration problems found on the way (e.g. a Redis
	// eviction policy that would drop jobs).
	Warnings []string `json:"warnings,omitempty"`
}

// ConsumerStats describes one consumer of the queue.
type ConsumerStats struct {
	Name    string        `json:"name"`
	Pending int64         `json:"pending"`
	Idle    time.Duration `json:"idle_ns"`
}

// DeadLetter is a job that ran out of attempts or failed for good.
type DeadLetter struct {
	ID     string    `json:"id"`
	Job    Job       `json:"job"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// DeadLetters is implemented by queues that keep dead letters for operators
// (`recall queue dlq`, `recall queue redrive`).
type DeadLetters interface {
	// DeadLetters lists up to limit dead letters, oldest first.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Redrive moves the named dead letters (all of them when ids is empty)
	// back into the queue with a fresh attempt count, and returns how many.
	Redrive(ctx context.Context, ids []string) (int, error)
}
