package recall

import (
	"context"
	"fmt"
	"time"
)

// BulkReprocess says which conversations ReprocessAll starts a fresh run
// for, how fast and how many: the backfill after a model outage or a prompt
// fix.
type BulkReprocess struct {
	// Filter selects the conversations.
	Filter ScanFilter
	// Rate is the most Reprocess calls per second, so a backfill does not
	// swamp the queue and the model; 0 leaves the calls unpaced.
	Rate float64
	// Limit stops the walk after this many conversations; 0 for no limit.
	Limit int
	// DryRun walks the scan and reports each match without reprocessing it.
	DryRun bool
	// Cursor resumes an earlier walk just after where it stopped (a
	// BulkReport.Cursor); "" starts from the beginning.
	Cursor string
	// Progress, if set, is called on ReprocessAll's goroutine after each
	// conversation, with the report so far: where a caller prints, counts
	// and checkpoints. The walk waits for it, so it should be quick.
	Progress func(BulkStep)

	// sleep waits between paced calls: Sleep, unless a test replaces it.
	sleep func(context.Context, time.Duration) error
}

// BulkStep is what ReprocessAll tells its caller after one conversation.
type BulkStep struct {
	// Conversation is the one just handled, as the scan returned it.
	Conversation *Conversation
	// Err is why reprocessing it failed; nil when it went well or in a dry
	// run.
	Err error
	// Report counts everything so far, this conversation included; its
	// Cursor resumes just after it.
	Report BulkReport
}

// BulkReport says how far a ReprocessAll got. Its counts cover this call
// only; a caller resuming across calls adds them up itself.
type BulkReport struct {
	// Processed counts conversations handled: reprocessed, failed to be, or
	// (in a dry run) listed.
	Processed int
	// Errors counts those whose Reprocess failed. They are not retried: a
	// conversation that cannot be reprocessed now is reported, and the walk
	// goes on to the next.
	Errors int
	// Cursor resumes the walk just after the last conversation handled, so
	// a resumed walk neither skips nor repeats one; "" once the scan is over.
	Cursor string
	// Finished is true when the walk reached the end of the scan, and false
	// when Limit, ctx or an error stopped it first.
	Finished bool
}

// bulkPage is how many conversations ReprocessAll asks the scan for at once.
const bulkPage = 100

// ReprocessAll starts a fresh analysis run for every conversation sc finds
// under b.Filter, one at a time and no faster than b.Rate, from b.Cursor
// on. A conversation that fails to reprocess is counted and passed over;
// a failing scan or the end of ctx stops the walk, with the report saying
// where to resume. A conversation interrupted mid-call is not counted, so a
// resume repeats it rather than skip it.
func (s *Service) ReprocessAll(ctx context.Context, sc Scanner, b BulkReprocess) (BulkReport, error) {
	rep := BulkReport{Cursor: b.Cursor}
	pace := newPacer(s.cfg.Now, b.Rate, b.sleep)
	for {
		page, err := sc.Scan(ctx, b.Filter, rep.Cursor, bulkPage)
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			return rep, fmt.Errorf("scan: %w", err)
		}
		for _, c := range page.Items {
			if b.Limit > 0 && rep.Processed == b.Limit {
				return rep, nil
			}
			var rerr error
			if !b.DryRun {
				if err := pace.wait(ctx); err != nil {
					return rep, err
				}
				if _, rerr = s.Reprocess(ctx, c.Owner, c.ID); rerr != nil {
					if ctx.Err() != nil {
						return rep, ctx.Err()
					}
					rep.Errors++
				}
			}
			rep.Processed++
			rep.Cursor = sc.ScanCursor(c)
			if b.Progress != nil {
				b.Progress(BulkStep{Conversation: c, Err: rerr, Report: rep})
			}
		}
		if page.Next == "" {
			rep.Cursor, rep.Finished = "", true
			return rep, nil
		}
		rep.Cursor = page.Next
	}
}

// pacer spaces calls at least interval apart. After a stall (a slow call,
// a slow page) it does not burst to catch up: the rate is a ceiling on
// what the queue and the model see, not a quota to fill.
type pacer struct {
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	interval time.Duration
	next     time.Time // when the next call may go out
}

// newPacer paces calls at rate per second; rate <= 0 never waits.
func newPacer(now func() time.Time, rate float64, sleep func(context.Context, time.Duration) error) *pacer {
	p := &pacer{now: now, sleep: sleep, next: now()}
	if rate > 0 {
		p.interval = time.Duration(float64(time.Second) / rate)
	}
	if p.sleep == nil {
		p.sleep = Sleep
	}
	return p
}

// wait blocks until the next call may go out, and returns ctx's error if it
// ends first.
func (p *pacer) wait(ctx context.Context) error {
	if d := p.next.Sub(p.now()); d > 0 {
		p.sleep(ctx, d)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if p.next = p.next.Add(p.interval); p.next.Before(p.now()) {
		p.next = p.now()
	}
	return nil
}
