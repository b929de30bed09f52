package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// result is one row of the final table.
type result struct {
	Name                         string
	Accepted, Done, Failed, Lost int
	// DupResults counts conversations with more than one result written,
	// and conversations no create was answered with.
	DupResults int
	// ModelCalls counts the analyses that ran for the accepted
	// conversations: successful calls the Bedrock wire fake answered, or,
	// with the local analyzer, analyses the workers' job lines report
	// (Counted says which). DupCalls is how many of them were beyond one
	// per conversation and run: work done twice, which a conditional result
	// write hides from DupResults.
	ModelCalls, DupCalls int
	Counted              string // "wire" or "log"
	HTTP500, Panics      int
	// Deleted counts the conversations a scenario deleted; Resurrected
	// those of them found again anywhere (GET, the listing, action items,
	// search, the index) after their delete answered 204.
	Deleted, Resurrected int
	Notes                []string
	Took                 time.Duration
	Broken               bool // the scenario's test failed
}

func (r *result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

var (
	resultsMu sync.Mutex
	results   []*result
)

func record(r *result) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	results = append(results, r)
}

// finalReport renders every scenario's counts as a table, then each
// scenario's figures.
func finalReport(total time.Duration) string {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	var b strings.Builder
	mode := "reduced sizes (set RECALL_CHAOS=1 for the full suite)"
	if sz.full {
		mode = "full sizes (RECALL_CHAOS=1)"
	}
	fmt.Fprintf(&b, "Recall chaos suite — %s — %d scenarios in %s\n\n", mode, len(results), total.Round(time.Second))
	w := len("scenario")
	for _, r := range results {
		w = max(w, len(r.Name))
	}
	fmt.Fprintf(&b, "%-*s %9s %6s %7s %5s %12s %12s %10s %8s %12s %5s %7s %8s  %s\n", w, "scenario", "accepted", "done", "failed", "lost",
		"dup results", "model calls", "dup calls", "deleted", "resurrected", "500s", "panics", "time", "result")
	for _, r := range results {
		verdict := "PASS"
		if r.Broken {
			verdict = "FAIL"
		}
		calls := fmt.Sprintf("%d %s", r.ModelCalls, r.Counted)
		deleted, resurrected := "-", "-"
		if r.Deleted > 0 {
			deleted, resurrected = fmt.Sprint(r.Deleted), fmt.Sprint(r.Resurrected)
		}
		fmt.Fprintf(&b, "%-*s %9d %6d %7d %5d %12d %12s %10d %8s %12s %5d %7d %8s  %s\n", w, r.Name, r.Accepted, r.Done, r.Failed, r.Lost,
			r.DupResults, calls, r.DupCalls, deleted, resurrected, r.HTTP500, r.Panics, r.Took.Round(100*time.Millisecond), verdict)
	}
	b.WriteString("\nlost: accepted (answered 201) but missing or unfinished at the end. dup results: conversations with more\n" +
		"than one result written, or that no create answered with. model calls: analyses run for the accepted\n" +
		"conversations, counted at the Bedrock wire fake (wire: successful calls) or from the workers' job lines\n" +
		"(log: local analyses). dup calls: calls beyond one per conversation and run; any fails the scenario unless\n" +
		"the first answer was lost to a fault seen where it happened (a SIGKILLed caller, a result the store refused).\n" +
		"deleted: conversations deleted (then done counts the kept ones); resurrected: deleted ones found again anywhere\n" +
		"afterwards (GET, listing, action items, search, the index itself, also after restarts); any fails the scenario.\n")
	for _, r := range results {
		if len(r.Notes) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s:\n", r.Name)
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	return b.String()
}

// jobLine is one "job" log line of a worker.
type jobLine struct {
	Time           time.Time `json:"time"`
	ConversationID string    `json:"conversation_id"`
	Owner          string    `json:"owner"`
	Outcome        string    `json:"outcome"`
	Attempt        int       `json:"attempt"`
	Reason         string    `json:"reason"`
	DurationMS     int64     `json:"duration_ms"`
	// Model is set when the analyzer answered (Service.Handle logs the
	// analysis's model, tokens and whether the cache answered).
	Model  string `json:"model"`
	Cached bool   `json:"cached"`
	Log    string `json:"-"` // the log file it was read from
}

// analysed reports whether the job ran an analysis to the end: the
// analyzer answered (and not from its cache), whatever became of the
// result. A result the store refused to save is logged as released with
// the reason "save result: …" and no model; its analysis ran too, and the
// redelivery runs another.
func (j jobLine) analysed() bool {
	return j.Model != "" && !j.Cached || j.unsaved()
}

// unsaved reports whether the job's analysis ran and the store refused its
// result.
func (j jobLine) unsaved() bool {
	return j.Outcome == "released" && strings.HasPrefix(j.Reason, "save result:")
}

// logStats is what the suite reads from the processes' JSON logs.
type logStats struct {
	// doneWrites counts, per conversation, the jobs that wrote a result
	// (outcome "done"): exactly one per conversation and run is the promise.
	doneWrites map[string]int
	// analyses counts, per conversation, the jobs that ran an analysis
	// (jobLine.analysed): what the local analyzer's "model calls" are.
	analyses map[string]int
	// unsaved counts, per conversation, the analyses whose result the
	// store refused to save: the job was released and its redelivery
	// rightly analyses again.
	unsaved  map[string]int
	outcomes map[string]int
	jobs     []jobLine
	// consumers are the Redis consumer names the queues registered, with
	// the name each asked for.
	consumers []consumerLine
	// processes are the process function's "process" lines (recall
	// invoke process): what each direct or scheduled invocation did.
	processes []processLine
	// status counts request log lines by HTTP status.
	status   map[int]int
	requests int
	// swept sums what the sweepers re-enqueued ("sweep" lines).
	swept int
	// panics holds lines that show a panic, a fatal runtime error or a
	// data race.
	panics []string
}

// scanLogs reads the log files of a scenario's processes.
func scanLogs(paths ...string) logStats {
	ls := logStats{doneWrites: map[string]int{}, analyses: map[string]int{}, unsaved: map[string]int{}, outcomes: map[string]int{}, status: map[int]int{}}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var rec struct {
				Msg    string `json:"msg"`
				Status int    `json:"status"`
				Error  string `json:"error"`
			}
			if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &rec) != nil {
				// Not a log record: the Go runtime's own output (a panic,
				// a fatal error, a race report) or a command's last words.
				low := strings.ToLower(string(line))
				if strings.Contains(low, "panic") || strings.Contains(low, "fatal error") || strings.Contains(low, "data race") {
					ls.panics = append(ls.panics, path+": "+truncate(string(line), 300))
				}
				continue
			}
			// A record: ids are random text, so look only where a
			// recovered panic is reported.
			if strings.Contains(strings.ToLower(rec.Msg), "panic") || strings.HasPrefix(rec.Error, "panic") {
				ls.panics = append(ls.panics, path+": "+truncate(string(line), 300))
			}
			switch rec.Msg {
			case "request":
				ls.requests++
				ls.status[rec.Status]++
			case "sweep":
				var sw struct {
					Enqueued int `json:"enqueued"`
				}
				if json.Unmarshal(line, &sw) == nil {
					ls.swept += sw.Enqueued
				}
			case "job":
				j := jobLine{Log: path}
				if json.Unmarshal(line, &j) == nil {
					ls.jobs = append(ls.jobs, j)
					ls.outcomes[j.Outcome]++
					if j.Outcome == "done" {
						ls.doneWrites[j.ConversationID]++
					}
					if j.analysed() {
						ls.analyses[j.ConversationID]++
					}
					if j.unsaved() {
						ls.unsaved[j.ConversationID]++
					}
				}
			case "process":
				pl := processLine{Log: path}
				if json.Unmarshal(line, &pl) == nil {
					ls.processes = append(ls.processes, pl)
				}
			case "redis consumer registered":
				c := consumerLine{Log: path}
				if json.Unmarshal(line, &c) == nil {
					ls.consumers = append(ls.consumers, c)
				}
			}
		}
		f.Close()
	}
	return ls
}

// consumerLine is a queue's "redis consumer registered" line.
type consumerLine struct {
	Time     time.Time `json:"time"`
	Consumer string    `json:"consumer"`
	AskedFor string    `json:"asked_for"`
	Log      string    `json:"-"` // the log file it was read from
}

// processLine is the process function's "process" line.
type processLine struct {
	Time           time.Time `json:"time"`
	Mode           string    `json:"mode"` // direct or scheduled
	ConversationID string    `json:"conversation_id"`
	Outcome        string    `json:"outcome"`
	Log            string    `json:"-"`
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// pct returns the q-quantile (nearest rank) of ds.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ms formats a duration in milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

// latencies summarises ds as "p50 … p99 … max …".
func latencies(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n/a"
	}
	return fmt.Sprintf("p50 %s, p99 %s, max %s (n=%d)", ms(pct(ds, .5)), ms(pct(ds, .99)), ms(pct(ds, 1)), len(ds))
}
