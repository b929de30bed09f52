package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"recall/internal/httpapi/contract"
	"recall/internal/testenv"
)

// The browser tests drive Debian's Chromium, headless, against a real
// `recall serve` built from this tree (or, for OIDC, the real handlers
// in-process), through a proxy that checks every API exchange against the
// OpenAPI document. They fail, not skip, when the browser cannot start;
// `go test -short` skips them.

// secret is the HS256 secret every recall process here verifies tokens
// with, so the tests can mint tokens (an expired one, for instance).
const secret = "web-browser-tests-secret-0123456789abcdef"

var (
	rootTab    context.Context // the first tab; every test opens its own next to it
	stopChrome context.CancelFunc
	binDir     string
	moduleDir  string
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if stopChrome != nil {
		stopChrome()
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// needBrowser skips under -short; otherwise it is a no-op, so the browser
// tests run in every plain `go test`.
func needBrowser(t testing.TB) {
	t.Helper()
	testenv.SkipShort(t, "drives headless Chromium against recall processes")
}

// chromiumPath finds Debian's Chromium.
func chromiumPath() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH: install it (apt-get install chromium; `make test` does)")
}

var startBrowser = sync.OnceValue(func() error {
	path, err := chromiumPath()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "recall-chromium-")
	if err != nil {
		return err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // as root here and in CI
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	// The first action starts the browser, bound to the context it runs
	// on: that must be the tab itself, not a shorter-lived child.
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		cancelTab()
		cancelAlloc()
		return fmt.Errorf("chromium (%s) did not start: %w; install it with apt-get install chromium (`make test` does)", path, err)
	}
	rootTab = tab
	stopChrome = func() { cancelTab(); cancelAlloc(); os.RemoveAll(dir) }
	return nil
})

// modRoot is the module's root directory.
func modRoot(t testing.TB) string {
	t.Helper()
	if moduleDir != "" {
		return moduleDir
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	moduleDir = filepath.Dir(strings.TrimSpace(string(out)))
	return moduleDir
}

// buildRecall compiles cmd/recall once, without the race detector: the
// server should run at its real speed for the figures.
var buildRecall = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "recall-web-bin-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "recall")
	cmd := exec.Command("go", "build", "-o", bin, "recall/cmd/recall")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build recall/cmd/recall: %v\n%s", err, out)
	}
	return bin, nil
})

// recallServer is a `recall serve` process and the checking proxy the
// browser reaches it through.
type recallServer struct {
	t      testing.TB
	url    string // what the browser opens: the proxy
	direct string // the server itself
	link   string // the sign-in link it printed, pointed at the proxy
	stdout *testenv.Buffer
	logs   *testenv.Buffer // its log (standard error)
	proxy  *proxy
}

// startRecall runs `recall serve --user alice` on a free port over a fresh
// data directory, with extra environment, and waits for its sign-in link.
func startRecall(t testing.TB, env ...string) *recallServer {
	t.Helper()
	bin, err := buildRecall()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &recallServer{t: t, direct: "http://" + addr, stdout: &testenv.Buffer{}, logs: &testenv.Buffer{}}
	cmd := exec.Command(bin, "serve", "--addr", addr, "--data", t.TempDir(), "--user", "alice", "--grace", "2s")
	cmd.Env = append(os.Environ(), "RECALL_JWT_SECRET="+secret, "RECALL_LOG_FORMAT=json", "RECALL_SWEEP_EVERY=1s")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = s.stdout, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("recall serve log:\n%s", s.logs.String())
		}
	})
	linkRE := regexp.MustCompile(`http://\S+/#token=\S+`)
	deadline := time.Now().Add(30 * time.Second)
	for !linkRE.MatchString(s.stdout.String()) {
		select {
		case <-exited:
			t.Fatalf("recall serve exited:\n%s\n%s", s.stdout, s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("recall serve printed no sign-in link:\n%s\n%s", s.stdout, s.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.proxy = newProxy(t, s.direct)
	s.url = s.proxy.srv.URL
	printed := linkRE.FindString(s.stdout.String())
	if !strings.HasPrefix(printed, s.direct+"/#token=") {
		t.Fatalf("sign-in link %q is not for %s", printed, s.direct)
	}
	s.link = s.url + strings.TrimPrefix(printed, s.direct)
	return s
}

// token mints a token for sub that expires at exp.
func token(t testing.TB, sub string, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": sub, "exp": exp.Unix(), "iat": time.Now().Add(-time.Hour).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// api calls the server directly as alice and decodes the answer into out.
func (s *recallServer) api(method, path, body string, out any) int {
	s.t.Helper()
	req, err := http.NewRequest(method, s.direct+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token(s.t, "alice", time.Now().Add(time.Hour)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			s.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// conversation is the part of the API's conversation the tests read.
type conversation struct {
	ID            string   `json:"id"`
	Title         string   `json:"title"`
	Content       string   `json:"content"`
	Priority      string   `json:"priority"`
	PostType      string   `json:"post_type"`
	AIStatus      string   `json:"ai_status"`
	AISummary     *string  `json:"ai_summary"`
	AIActionItems []string `json:"ai_action_items"`
	AIKeywords    []string `json:"ai_keywords"`
}

// all lists every conversation of alice.
func (s *recallServer) all() []conversation {
	s.t.Helper()
	var page struct {
		Items []conversation `json:"items"`
	}
	if code := s.api("GET", "/api/conversations?limit=100", "", &page); code != 200 {
		s.t.Fatalf("list: %d", code)
	}
	return page.Items
}

// proxy passes the browser's requests to the server, checks each API
// exchange against the OpenAPI document, counts requests, and can drop
// an answer after the server has acted on the request (a network failure
// at the worst moment).
type proxy struct {
	t       testing.TB
	target  string
	checker *contract.Checker
	srv     *httptest.Server
	drop    atomic.Pointer[func(*http.Request) bool]

	mu        sync.Mutex
	exchanges []exchange
}

type exchange struct {
	at       time.Time
	method   string
	path     string
	status   int
	reqHdr   http.Header
	respHdr  http.Header
	reqBody  string
	respBody string
}

var sharedChecker = sync.OnceValues(contract.New)

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	c, err := sharedChecker()
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, target: target, checker: c}
	if target != "" {
		p.srv = httptest.NewServer(p)
		t.Cleanup(p.srv.Close)
	}
	return p
}

// dropNext makes the proxy lose the answers to the next n requests match
// accepts, after the server has handled them. (Chromium silently resends a
// request whose reused connection closes without an answer, once; n = 2
// makes the failure reach the page.)
func (p *proxy) dropNext(n int32, match func(*http.Request) bool) {
	var left atomic.Int32
	left.Store(n)
	f := func(r *http.Request) bool { return match(r) && left.Add(-1) >= 0 }
	p.drop.Store(&f)
}

var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Accept-Encoding"}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p.mu.Lock()
	p.exchanges = append(p.exchanges, exchange{
		at: time.Now(), method: r.Method, path: r.URL.RequestURI(), status: resp.StatusCode,
		reqHdr: r.Header.Clone(), respHdr: resp.Header.Clone(), reqBody: string(body), respBody: string(respBody),
	})
	p.mu.Unlock()
	if f := p.drop.Load(); f != nil && (*f)(r) {
		panic(http.ErrAbortHandler) // the browser sees the connection fail
	}
	check := r.Clone(context.Background())
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err := p.checker.Check(check, body, resp); err != nil {
		p.t.Errorf("the web app's call: %v", err)
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// seen returns the exchanges so far whose "METHOD path" matches re.
func (p *proxy) seen(re string) []exchange {
	rx := regexp.MustCompile(re)
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []exchange
	for _, e := range p.exchanges {
		if rx.MatchString(e.method + " " + e.path) {
			out = append(out, e)
		}
	}
	return out
}

// tab is one browser tab of a test, with what the page did that it must
// not do: dialogs opened (alert), uncaught exceptions, console errors
// (CSP violations among them).
type tab struct {
	t       testing.TB
	ctx     context.Context
	mu      sync.Mutex
	dialogs []string
	errs    []string
}

// openTab opens a fresh tab (its own sessionStorage) at 1280×900, light.
func openTab(t testing.TB) *tab {
	t.Helper()
	needBrowser(t)
	if err := startBrowser(); err != nil {
		t.Fatal(err)
	}
	tabCtx, cancel := chromedp.NewContext(rootTab)
	t.Cleanup(cancel)
	// Open the tab on its own context (see startBrowser), then bound what
	// the test does in it.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tabCtx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	b := &tab{t: t, ctx: ctx}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	console := chromedp.Events(ctx, runtime.ConsoleAPICalled)
	logs := chromedp.Events(ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, fmt.Sprintf("%s: %s", ev.Type, ev.Message))
			b.mu.Unlock()
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			b.record("exception: " + ev.ExceptionDetails.Text + " " + describeException(ev.ExceptionDetails))
		}
	}()
	go func() {
		for ev, err := range console {
			if err != nil {
				return
			}
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				b.record("console." + string(ev.Type) + ": " + strings.Join(parts, " "))
			}
		}
	}()
	go func() {
		for ev, err := range logs {
			if err != nil {
				return
			}
			if ev.Entry.Level == cdplog.EntryLevelError {
				b.record("log: " + ev.Entry.Text + " " + ev.Entry.URL)
			}
		}
	}()
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("log.enable: %v", err)
	}
	b.do(chromedp.EmulateViewport(1280, 900))
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, d := range b.dialogs {
			t.Errorf("the page opened a dialog: %s", d)
		}
		for _, e := range b.errs {
			if !b.expected(e) {
				t.Errorf("the page reported an error: %s", e)
			}
		}
	})
	return b
}

func describeException(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

func (b *tab) record(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, s)
}

// expected lists the errors Chromium logs for what a test provokes on
// purpose: the failed loads of 401, 404, 413 and 400 answers and of the
// dropped connection.
func (b *tab) expected(e string) bool {
	return strings.HasPrefix(e, "log: Failed to load resource")
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// js evaluates expr (awaiting a promise) and decodes the result.
func js[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %.80q: %v", expr, err)
	}
	return v
}

// waitFor waits until expr is truthy in the page. Evaluation errors while
// the page navigates (a sign-in redirect) are waited through.
func (b *tab) waitFor(what, expr string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("Boolean("+expr+")"))
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(25 * time.Millisecond)
	}
	page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body?.innerText ?? ""`))
	b.t.Fatalf("waiting for %s (%s): not within %s (last error %v)\npage text: %.2000s", what, expr, within, last, page)
}

// text returns the text of the first element matching sel ("" if none).
func (b *tab) text(sel string) string {
	b.t.Helper()
	return js[string](b, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, sel))
}

// dark switches prefers-color-scheme.
func (b *tab) dark(on bool) {
	b.t.Helper()
	v := "light"
	if on {
		v = "dark"
	}
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}},
	}); err != nil {
		b.t.Fatalf("emulate %s: %v", v, err)
	}
}

// signIn opens the sign-in link and waits for the list.
func (b *tab) signIn(s *recallServer) {
	b.t.Helper()
	b.do(chromedp.Navigate(s.link))
	b.waitFor("the list", `document.querySelector('#conversations[aria-busy="false"]')`, 10*time.Second)
}
