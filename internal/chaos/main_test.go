package chaos

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"recall/internal/testenv"
)

// size is how big each scenario runs. A plain `go test` runs them small so
// the package stays quick; RECALL_CHAOS=1 runs them at the sizes.
type size struct {
	full bool

	killConvs, kills          int           // worker SIGKILLs while conversations flow
	restartConvs              int           // creates around a Redis restart
	redisOutage               time.Duration // how long Redis stays stopped
	outageRate                int           // creates per second while it is down
	storeClients              int           // concurrent clients while the store dies
	storeDown                 time.Duration // how long the store stays dead
	modelConvs                int           // conversations through the chaotic model
	sigterms                  int           // SIGTERM + restart cycles under load
	sigtermRate               int           // creates per second during them
	slowConns                 int           // slowloris connections held open
	slowWindow                time.Duration // how long they are held
	loadN, loadC              int           // recall bench size and concurrency
	loadTimeout, settleWithin time.Duration // bench's --timeout; wait for processing
	noQuotaWithin             time.Duration // wait for the model run with no quota configured
	leaseConvs, leaseRound    int           // conversations drains and direct calls race on, and how many per round
	pairConvs                 int           // conversations through two workers started from one directory
	fairN                     int           // the big owner's backlog in the fair-share scenario (the other posts 10)
	deleteConvs               int           // conversations posted in the delete race (a random half deleted)
	deleteLatency             time.Duration // how long the model takes per call there
	deleteSpread              time.Duration // the window a "random" delete falls in after the 201
}

var (
	sz       size
	binary   string // the recall binary under test
	runDir   string // process logs and the report
	repoRoot string // the module root (dynalite lives in its node_modules)
)

func chosenSize() (size, error) {
	s := size{
		killConvs: 100, kills: 3, restartConvs: 120, redisOutage: 2 * time.Second, outageRate: 20,
		storeClients: 8, storeDown: 2 * time.Second, modelConvs: 40, sigterms: 1, sigtermRate: 40,
		slowConns: 200, slowWindow: 3 * time.Second, loadN: 500, loadC: 16,
		loadTimeout: 2 * time.Minute, settleWithin: 2 * time.Minute, noQuotaWithin: 90 * time.Second,
		leaseConvs: 16, leaseRound: 8, pairConvs: 60, fairN: 200,
		deleteConvs: 120, deleteLatency: 150 * time.Millisecond, deleteSpread: 3 * time.Second,
	}
	if v := os.Getenv("RECALL_CHAOS"); v != "" && v != "0" {
		s = size{
			full:      true,
			killConvs: 1000, kills: 20, restartConvs: 500, redisOutage: 30 * time.Second, outageRate: 20,
			storeClients: 16, storeDown: 4 * time.Second, modelConvs: 300, sigterms: 3, sigtermRate: 80,
			slowConns: 200, slowWindow: 8 * time.Second, loadN: 10_000, loadC: 64,
			loadTimeout: 5 * time.Minute, settleWithin: 4 * time.Minute, noQuotaWithin: 2 * time.Minute,
			leaseConvs: 100, leaseRound: 10, pairConvs: 300, fairN: 1000,
			deleteConvs: 450, deleteLatency: 200 * time.Millisecond, deleteSpread: 10 * time.Second,
		}
	}
	if v := os.Getenv("RECALL_CHAOS_REDIS_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("RECALL_CHAOS_REDIS_OUTAGE=%q: want a duration such as 30s", v)
		}
		s.redisOutage = d
	}
	return s, nil
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	var err error
	if sz, err = chosenSize(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if repoRoot, err = moduleRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if runDir, err = os.MkdirTemp("", "recall-chaos-"); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	start := time.Now()
	if binary, err = build(runDir); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	code := m.Run()
	rep := finalReport(time.Since(start))
	fmt.Print("\n" + rep)
	path := os.Getenv("RECALL_CHAOS_REPORT")
	if path != "" && !filepath.IsAbs(path) {
		path = filepath.Join(repoRoot, path)
	}
	if path == "" && sz.full {
		path = filepath.Join(runDir, "chaos-report.txt")
	}
	if path != "" {
		if err := os.WriteFile(path, []byte(rep), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: write report:", err)
		} else {
			fmt.Println("chaos report written to", path)
		}
	}
	// Each scenario removed its logs if it passed (see newScenario); what
	// is left is the failures' logs, kept to be read.
	os.Remove(binary)
	entries, _ := os.ReadDir(runDir)
	if len(entries) == 0 {
		os.Remove(runDir)
	} else if len(entries) > 1 || filepath.Join(runDir, entries[0].Name()) != path {
		fmt.Println("chaos process logs kept in", runDir)
	}
	os.Exit(code)
}

// build compiles cmd/recall without the race detector: the processes under
// fault must run at realistic speed (the test binary itself may use -race).
func build(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is needed to build recall: %w", err)
	}
	bin := filepath.Join(dir, "recall")
	cmd := exec.Command(goBin, "build", "-o", bin, "recall/cmd/recall")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build recall/cmd/recall: %v\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot walks up from the package directory to go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module recall\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module recall above the working directory")
		}
		dir = parent
	}
}

// needProcesses skips under -short, like every test here that starts
// servers; otherwise it is a no-op, so nothing is skipped by default.
func needProcesses(t *testing.T) {
	t.Helper()
	testenv.SkipShort(t, "starts recall, redis-server and dynalite processes")
}
