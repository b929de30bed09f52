package chaos

import (
	"regexp"
	"sync"
	"testing"
	"time"

	"recall/internal/bedrock/bedrocktest"
)

// The credentials and region the wire fake checks signatures with. The
// DynamoDB-API store (dynalite) takes any keys, so a process that talks to
// both signs everything with these.
const (
	fakeRegion = "us-west-2"
	fakeKey    = "AKIDRECALLCHAOS"
	fakeSecret = "recall-chaos-secret"
)

// modelFake is the Bedrock wire fake as the scenarios that count model
// calls use it: every call answers a valid analysis after a latency (per
// conversation title, or the default), and every call is recorded with the
// title of the conversation it analysed, when it came in and which process
// made it.
type modelFake struct {
	srv *bedrocktest.Server

	mu      sync.Mutex
	latency time.Duration
	slow    map[string]time.Duration // by title
	started map[int]wireCall         // by request seq, as it came in
}

// newModelFake starts the fake; each call takes latency before it answers.
func newModelFake(t *testing.T, latency time.Duration) *modelFake {
	t.Helper()
	f := &modelFake{latency: latency, slow: map[string]time.Duration{}, started: map[int]wireCall{}}
	f.srv = bedrocktest.NewServer(t, bedrocktest.Options{Region: fakeRegion, AccessKeyID: fakeKey, SecretAccessKey: fakeSecret})
	f.srv.SetHook(func(r *bedrocktest.Request) bedrocktest.Behavior {
		c := wireCall{Title: titleOf(r.UserText()), At: time.Now(), App: appOf(r.Header.Get("User-Agent"))}
		f.mu.Lock()
		f.started[r.Seq] = c
		d, ok := f.slow[c.Title]
		if !ok {
			d = f.latency
		}
		f.mu.Unlock()
		return bedrocktest.Delay(d, bedrocktest.Echo())
	})
	return f
}

// env configures a recall process to analyse with the fake. The analysis
// cache lives a millisecond, so every run of a conversation reaches the
// model and the calls count the analyses run: otherwise a second analysis
// of the same text would be answered by the cache, free and invisible.
func (f *modelFake) env() []string {
	return []string{"RECALL_AI=bedrock", "AWS_REGION=" + fakeRegion, "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=" + f.srv.URL,
		"AWS_ACCESS_KEY_ID=" + fakeKey, "AWS_SECRET_ACCESS_KEY=" + fakeSecret, "BEDROCK_CACHE_TTL=1ms"}
}

// slowDown makes the calls for the conversation titled title take d.
func (f *modelFake) slowDown(title string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slow[title] = d
}

// wireCall is one call the fake received.
type wireCall struct {
	Title string    // the title of the conversation it analysed
	At    time.Time // when it came in
	App   string    // the process that made it (its AWS_SDK_UA_APP_ID)
	OK    bool      // answered with a valid analysis
	Gone  bool      // the caller went away (killed) before the answer
}

var (
	titleAttr = regexp.MustCompile(`<conversation title="([^"]*)"`)
	uaApp     = regexp.MustCompile(`\bapp/(\S+)`)
)

// titleOf finds the conversation's title in the text a call asked the
// model to read.
func titleOf(userText string) string {
	if m := titleAttr.FindStringSubmatch(userText); m != nil {
		return m[1]
	}
	return ""
}

// appOf is the app id in an AWS SDK User-Agent ("… app/worker-1 …").
func appOf(userAgent string) string {
	if m := uaApp.FindStringSubmatch(userAgent); m != nil {
		return m[1]
	}
	return ""
}

// calls returns every call answered so far, in the order they finished.
func (f *modelFake) calls() []wireCall {
	reqs := f.srv.Requests()
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]wireCall, len(reqs))
	for i, r := range reqs {
		c := f.started[r.Seq]
		c.OK = r.Status == 200 && r.Behavior == "echo"
		c.Gone = r.ErrorType == "ClientGone"
		out[i] = c
	}
	return out
}

// inFlight returns the titles of the calls app has made that have not
// been answered yet.
func (f *modelFake) inFlight(app string) []string {
	done := map[int]bool{}
	for _, r := range f.srv.Requests() {
		done[r.Seq] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for seq, c := range f.started {
		if c.App == app && !done[seq] {
			out = append(out, c.Title)
		}
	}
	return out
}

// perConversation counts the successful calls per conversation id, given
// the ids by title; the calls for a title no create was answered with are
// returned apart, as title: count.
func perConversation(calls []wireCall, idByTitle map[string]string) (map[string]int, map[string]int) {
	byID, unknown := map[string]int{}, map[string]int{}
	for _, c := range calls {
		if !c.OK {
			continue
		}
		if id, ok := idByTitle[c.Title]; ok {
			byID[id]++
		} else {
			unknown[c.Title]++
		}
	}
	return byID, unknown
}

// idsByTitle merges producers' title → id maps.
func idsByTitle(ps ...*producer) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		p.mu.Lock()
		for k, id := range p.byKey {
			out[k] = id
		}
		p.mu.Unlock()
	}
	return out
}

// countWire sets the scenario's model calls from the fake's record: the
// successful calls per accepted conversation. A call for a title no create
// was answered with fails the test.
func (s *scenario) countWire(f *modelFake, ps ...*producer) {
	s.t.Helper()
	calls, byTitle := f.calls(), idsByTitle(ps...)
	byID, unknown := perConversation(calls, byTitle)
	s.calls = byID
	s.mu.Lock()
	killed := map[string]bool{}
	for _, p := range s.procs {
		if p.sigkilled.Load() {
			killed[p.name] = true
		}
	}
	s.mu.Unlock()
	var cut []wireCall
	for _, c := range calls {
		if killed[c.App] {
			cut = append(cut, c)
		}
	}
	s.cutOff, _ = perConversation(cut, byTitle)
	for title, n := range unknown {
		s.t.Errorf("%d model calls for %q, which no create was answered with", n, title)
	}
}
