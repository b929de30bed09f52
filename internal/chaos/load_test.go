package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"recall/internal/testenv"
)

// benchReport is the part of `recall bench --json` the suite reads.
type benchReport struct {
	Requested       int                `json:"requested"`
	Created         int                `json:"created"`
	CreateErrors    map[string]int     `json:"create_errors"`
	CreatesPerSec   float64            `json:"creates_per_second"`
	CreateLatencyMS map[string]float64 `json:"create_latency_ms"`
	Done            int                `json:"done"`
	Failed          int                `json:"failed"`
	Unfinished      int                `json:"unfinished"`
	PollErrors      map[string]int     `json:"poll_errors"`
	ProcessedPerSec float64            `json:"processed_per_second"`
	TimeToProcessed map[string]float64 `json:"time_to_processed_ms"`
	WallSeconds     float64            `json:"wall_seconds"`
}

// TestLoadEmbedded and TestLoadRedisDynalite load a running `recall serve`
// with `recall bench`: N creates at concurrency C, waiting for every
// analysis. Zero errors, everything processed, each result written once.
func TestLoadEmbedded(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("load %d creates @%d, embedded", sz.loadN, sz.loadC))
	load(t, s, recallEnv(), "--data", t.TempDir())
}

func TestLoadRedisDynalite(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("load %d creates @%d, Redis+dynalite", sz.loadN, sz.loadC))
	redis := testenv.StartRedis(t)
	dyn := startDynalite(t, s.dir, true)
	load(t, s, recallEnv(append(dynamoEnv(dyn.Endpoint(), "chaos-load"), "REDIS_URL="+redis.URL(), "RECALL_DATA_DIR="+t.TempDir())...))
}

func load(t *testing.T, s *scenario, env []string, flags ...string) {
	t.Helper()
	addr := freeAddr(t)
	api := s.serve(addr, env, flags...)
	owner := "chaos-load"
	ctx, cancel := context.WithTimeout(context.Background(), sz.loadTimeout+time.Minute)
	defer cancel()
	idsFile := filepath.Join(s.dir, "bench-ids.txt")
	cmd := exec.CommandContext(ctx, binary, "bench", "--url", "http://"+addr, "--token", token(t, owner),
		"-n", fmt.Sprint(sz.loadN), "-c", fmt.Sprint(sz.loadC), "--timeout", sz.loadTimeout.String(),
		"--progress", "none", "--json", "--ids-out", idsFile)
	cmd.Env = recallEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var rep benchReport
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		t.Fatalf("recall bench: %v, %v\nstdout: %s\nstderr: %s", err, jerr, truncate(string(out), 2000), truncate(stderr.String(), 2000))
	}
	if err != nil {
		t.Errorf("recall bench exited with %v: %s", err, truncate(stderr.String(), 500))
	}
	if len(rep.CreateErrors) > 0 || len(rep.PollErrors) > 0 {
		t.Errorf("errors under load: creates %v, polls %v", rep.CreateErrors, rep.PollErrors)
	}
	// What bench was answered 201 with is what must be there at the end;
	// the final listing is checked against it, never the other way round.
	accepted := readIDs(t, idsFile)
	if len(accepted) != rep.Created {
		t.Errorf("bench reports %d creates; it wrote %d distinct ids", rep.Created, len(accepted))
	}
	c := newClient("http://"+addr, token(t, owner))
	final := c.settle(t, accepted, sz.settleWithin)
	stopClean(t, api, 15*time.Second)
	ls := s.logs()
	s.checkLogs(ls)
	s.account(accepted, final, ls)
	if rep.Created < rep.Requested {
		t.Errorf("%d of %d creates failed", rep.Requested-rep.Created, rep.Requested)
	}
	s.res.note("creates: %.0f/s, latency p50 %.1fms, p99 %.1fms, max %.1fms", rep.CreatesPerSec,
		rep.CreateLatencyMS["p50"], rep.CreateLatencyMS["p99"], rep.CreateLatencyMS["max"])
	s.res.note("processed: %.0f/s, time to processed p50 %.0fms, p99 %.0fms, max %.0fms; bench wall time %.1fs",
		rep.ProcessedPerSec, rep.TimeToProcessed["p50"], rep.TimeToProcessed["p99"], rep.TimeToProcessed["max"], rep.WallSeconds)
	s.res.note("%d requests logged by the API, by status: %v", ls.requests, ls.status)
}

// readIDs reads a file of conversation ids, one per line (bench's
// --ids-out).
func readIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the created ids: %v", err)
	}
	ids := map[string]bool{}
	for _, id := range strings.Fields(string(b)) {
		ids[id] = true
	}
	return ids
}
