package deploy

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/httpapi"
	"recall/internal/testenv"
)

// workDir holds what the tests build (function binaries, the emulator); it
// lives as long as the test binary.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "recall-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(2)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goTool returns the go command that runs these tests.
func goTool(t testing.TB) string {
	t.Helper()
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("deploy: no go command: %v", err)
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// lambdaBuildFlags are what `sam build` must pass (through the Makefile):
// no RPC shim, reproducible paths, no symbol tables.
var lambdaBuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

var (
	buildMu    sync.Mutex
	builtByArc = map[string]map[string]string{}
)

// buildFunctions builds every function for linux/goarch the way the
// Makefile's build-<LogicalId> targets do, once per test binary, and
// returns the bootstrap paths by function name.
func buildFunctions(t testing.TB, goarch string) map[string]string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if m, ok := builtByArc[goarch]; ok {
		return m
	}
	out := filepath.Join(workDir, "linux-"+goarch)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"build"}, lambdaBuildFlags...)
	bin := filepath.Join(out, "bin")
	args = append(args, "-o", bin+string(filepath.Separator))
	for _, name := range lambdaFunctions {
		args = append(args, "./functions/"+name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(t), args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy: go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	m := map[string]string{}
	for _, name := range lambdaFunctions {
		// One directory per function, the bootstrap inside, as Lambda
		// unpacks the zip.
		dir := filepath.Join(out, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "bootstrap")
		if err := os.Rename(filepath.Join(bin, name), p); err != nil {
			t.Fatal(err)
		}
		m[name] = p
	}
	t.Logf("built %d functions for linux/%s in %s", len(m), goarch, time.Since(start).Round(time.Millisecond))
	builtByArc[goarch] = m
	return m
}

// checkBootstrap checks that path is what Lambda's provided.al2023 runtime
// on goarch runs: a static, stripped linux ELF for that machine, built from
// functions/<name> with the flags the template promises. It returns the
// size in bytes.
func checkBootstrap(t *testing.T, path, name, goarch string) int64 {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: not an ELF binary: %v", path, err)
	}
	defer f.Close()
	wantMachine := map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64}[goarch]
	if f.Machine != wantMachine {
		t.Errorf("%s: machine %s; want %s", name, f.Machine, wantMachine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: dynamically linked (has an interpreter); provided.al2023 needs a static binary (CGO_ENABLED=0)", name)
		}
	}
	// -ldflags='-s -w': no symbol table, no DWARF. (Build info does not
	// record -ldflags under -trimpath, so the sections are the evidence.)
	for _, sec := range f.Sections {
		if sec.Name == ".symtab" || strings.HasPrefix(sec.Name, ".debug_") || strings.HasPrefix(sec.Name, ".zdebug_") {
			t.Errorf("%s: has section %s; build with -ldflags='-s -w'", name, sec.Name)
		}
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: no Go build info: %v", name, err)
	}
	if want := "recall/functions/" + name; bi.Path != want {
		t.Errorf("%s: built from %s; want %s", name, bi.Path, want)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	for k, want := range map[string]string{"GOOS": "linux", "GOARCH": goarch, "CGO_ENABLED": "0", "-tags": "lambda.norpc", "-trimpath": "true"} {
		if settings[k] != want {
			t.Errorf("%s: build setting %s=%q; want %q", name, k, settings[k], want)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// makeTarget returns the recipe of target in the Makefile text, and whether
// the target exists.
func makeTarget(makefile, target string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(makefile))
	var recipe []string
	in, found := false, false
	for sc.Scan() {
		line := sc.Text()
		if in {
			if strings.HasPrefix(line, "\t") {
				recipe = append(recipe, strings.TrimSpace(line))
				continue
			}
			in = false
		}
		head, _, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "\t") || strings.Contains(head, "=") {
			continue
		}
		for _, t := range strings.Fields(head) {
			if t == target {
				in, found = true, true
			}
		}
	}
	return strings.Join(recipe, "\n"), found
}

// The template builds each function with `make build-<LogicalId>`
// (BuildMethod makefile). This runs those targets as `sam build` would,
// with ARTIFACTS_DIR set, and checks what they produce: the binaries that
// would be deployed. Without make on the machine it checks the recipes'
// text and builds with the same flags directly.
func TestMakefileBuildsEachFunction(t *testing.T) {
	testenv.SkipShort(t, "builds every function for linux/arm64")
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	makefile := string(b)
	mk, makeErr := exec.LookPath("make")
	if makeErr != nil {
		t.Logf("make is not installed: checking the recipes' text and building with go directly")
	}
	var sizes []string
	for _, name := range lambdaFunctions {
		id := logicalID(name)
		target := "build-" + id
		recipe, ok := makeTarget(makefile, target)
		if !ok {
			t.Errorf("the Makefile has no target %s, which `sam build` runs for %s (BuildMethod makefile). Add:\n\n%s:\n\tGOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap ./functions/%s\n",
				target, id, target, name)
			continue
		}
		for _, want := range []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "lambda.norpc", "-trimpath", "$(ARTIFACTS_DIR)/bootstrap"} {
			if !strings.Contains(recipe, want) {
				t.Errorf("%s: recipe %q lacks %s", target, recipe, want)
			}
		}
		if !strings.Contains(recipe, "./functions/"+name) && !strings.Contains(recipe, "functions/$") {
			t.Errorf("%s: recipe %q does not build ./functions/%s", target, recipe, name)
		}
		artifacts := filepath.Join(workDir, "sam", id)
		if err := os.MkdirAll(artifacts, 0o755); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		var cmd *exec.Cmd
		if makeErr == nil {
			cmd = exec.CommandContext(ctx, mk, "--no-print-directory", target, "ARTIFACTS_DIR="+artifacts, "GO="+goTool(t))
		} else {
			args := append(append([]string{"build"}, lambdaBuildFlags...), "-o", filepath.Join(artifacts, "bootstrap"), "./functions/"+name)
			cmd = exec.CommandContext(ctx, goTool(t), args...)
			cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		}
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
			continue
		}
		size := checkBootstrap(t, filepath.Join(artifacts, "bootstrap"), name, "arm64")
		sizes = append(sizes, fmt.Sprintf("%s %.1f MB", name, float64(size)/1e6))
	}
	if len(sizes) > 0 {
		t.Logf("linux/arm64 bootstrap sizes (target < 15 MB): %s", strings.Join(sizes, ", "))
	}
}

// The binaries the emulator runs are built for this machine's architecture
// with the same flags; check them the same way and report their sizes.
func TestHostBinaries(t *testing.T) {
	testenv.SkipShort(t, "builds every function")
	bins := buildFunctions(t, runtime.GOARCH)
	var sizes []string
	for _, name := range lambdaFunctions {
		size := checkBootstrap(t, bins[name], name, runtime.GOARCH)
		sizes = append(sizes, fmt.Sprintf("%s %.1f MB", name, float64(size)/1e6))
	}
	t.Logf("linux/%s bootstrap sizes (target < 15 MB): %s", runtime.GOARCH, strings.Join(sizes, ", "))
}

// localOnly are the packages that run only where Recall runs on one
// machine: the embedded store and search index and what they are built
// on, each with the packages under it. A function that imported any of
// them would carry it whether or not it ever ran it (a Go binary links
// every imported package's initialisation and package-level variables);
// bleve alone, with its segment formats, more than doubled each
// function's size. (Search on AWS stems keywords with the Porter stemmer
// bleve's authors publish on its own, which is not bleve.)
var localOnly = []string{
	"recall/internal/embedded", "recall/internal/boltstore", "recall/internal/fulltext",
	"go.etcd.io/bbolt", "github.com/blevesearch/bleve/v2", "github.com/blevesearch/bleve_index_api",
	"github.com/blevesearch/zapx",
}

// backendPackages are every store, queue, analyzer and search backend, and
// the clients they wrap, each with the packages under it: what the web
// function, which serves the page and opens nothing, must not link.
var backendPackages = []string{
	"recall/internal/backends", "recall/internal/dynamo", "recall/internal/redisq", "recall/internal/memq",
	"recall/internal/bedrock", "recall/internal/extract", "recall/internal/s3vec", "recall/internal/hybrid",
	"github.com/redis/go-redis/v9", "github.com/aws/aws-sdk-go-v2/service/dynamodb",
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime", "github.com/aws/aws-sdk-go-v2/service/s3vectors",
}

// TestFunctionsLinkOnlyWhatRunsOnAWS lists what each function links, as
// `sam build` builds it, and fails on a package that cannot run there:
// the embedded store and index in any function, any backend in web.
func TestFunctionsLinkOnlyWhatRunsOnAWS(t *testing.T) {
	t.Parallel()
	for _, name := range lambdaFunctions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			forbidden := localOnly
			if name == httpapi.FunctionWeb {
				forbidden = append(slices.Clip(localOnly), backendPackages...)
			}
			var bad []string
			for _, dep := range linkedPackages(t, name) {
				for _, f := range forbidden {
					if dep == f || strings.HasPrefix(dep, f+"/") {
						bad = append(bad, dep)
					}
				}
			}
			if len(bad) > 0 {
				t.Errorf("functions/%s links %s; it must not (go list -deps ./functions/%s shows who imports them)", name, strings.Join(bad, ", "), name)
			}
		})
	}
}

// linkedPackages is `go list -deps` of functions/name for linux/arm64
// with the build tags the Makefile uses.
func linkedPackages(t *testing.T, name string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(t), "list", "-deps", "-tags", "lambda.norpc", "./functions/"+name)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("deploy: go list -deps ./functions/%s: %v\n%s", name, err, stderr.String())
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "recall/functions/"+name) {
		t.Fatalf("deploy: go list -deps ./functions/%s does not list the function itself:\n%s", name, out)
	}
	return deps
}
