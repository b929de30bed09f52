// Package chaos proves Recall's promise — an accepted conversation is never
// lost and bad input never breaks it — against real processes on loopback:
// the recall binary (serve, serve --no-worker, worker, bench), redis-server,
// dynalite and the Bedrock wire fake, with faults injected from outside.
//
// The package holds only tests. Each scenario counts the conversations it
// had accepted (the ids its 201 answers carried), done, failed with a
// reason and lost (accepted but missing or unfinished at the end), the
// results written more than once, and the model calls per conversation
// and run (at the Bedrock wire fake, or from the workers' job lines with
// the local analyzer). It fails on any loss, any duplicate result, any
// model call beyond one per run that no SIGKILL or refused save explains,
// any HTTP 500 and any panic in a process log:
//
//   - the worker process SIGKILLed at random moments while conversations
//     flow through Redis (every one done, each result written once);
//   - Redis restarted mid-run with its append-only file, and stopped for a
//     while (creates keep answering 201, everything is processed after);
//   - the DynamoDB-API store killed during creates (503 "unavailable",
//     nothing half-written, a retry with the same Idempotency-Key gives
//     exactly one conversation);
//   - the model throttling, timing out and breaking its schema (every
//     conversation done or failed with a reason, retries and their delays
//     bounded);
//   - recall serve stopped with SIGTERM under load (a clean exit within the
//     grace period, nothing lost across the restart);
//   - hostile clients over the real listener: forged, expired and
//     cross-owner tokens, path tricks, oversized headers and bodies, and
//     slowloris connections that must not starve normal requests;
//   - load: 10,000 creates at concurrency 64 on embedded defaults and on
//     Redis + dynalite, through `recall bench`.
//   - analysed once at a time and paid for once: scheduled drains racing
//     direct process calls on the same conversations, two workers started
//     from one directory (and one of them SIGKILLed), one owner's backlog
//     beside another's ten, and 20 reprocesses of one conversation in a
//     second;
//   - delete racing processing: a random half of the conversations deleted
//     while queued, while their model call is in flight, just as it
//     answers, or at random, on the embedded default and on Redis +
//     dynalite with a separate worker; nothing of a deleted one may be
//     found again (GET, listing, action items, search, the index itself),
//     after the queue drains and after restarts, and the resurrected
//     column counts any that is.
//
// A plain `go test ./...` runs every scenario at a reduced size (nothing is
// skipped, `-short` aside); RECALL_CHAOS=1 runs them at full size, which is
// what `make chaos` does. At the end a table of every scenario's counts is
// printed and written to a file (RECALL_CHAOS_REPORT, or a temporary file
// whose path is printed). RECALL_CHAOS_REDIS_OUTAGE sets how long Redis
// stays down (30s at full size). Every process's log is kept when a
// scenario fails (or with RECALL_CHAOS_KEEP=1), in a directory whose path is
// printed.
//
// dynalite runs through testdata/dynalite.js, which keeps it serving when a
// client dies mid-request (dynalite itself exits on that, and the suite
// kills clients mid-request on purpose).
package chaos
