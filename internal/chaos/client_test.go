package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/httpapi"
)

// client is an API client for one owner.
type client struct {
	base, token string
	hc          *http.Client
}

func newClient(base, token string) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	return &client{base: base, token: token, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// reply is one answer of the API (or the network error instead of one).
type reply struct {
	status   int
	conv     httpapi.Conversation
	err      httpapi.ErrorDetail
	replayed bool
	took     time.Duration
	netErr   error
	body     []byte
}

func (r reply) String() string {
	if r.netErr != nil {
		return "network error: " + r.netErr.Error()
	}
	return fmt.Sprintf("%d %s", r.status, truncate(strings.TrimSpace(string(r.body)), 200))
}

func (c *client) do(ctx context.Context, method, path string, body []byte, header http.Header) reply {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return reply{netErr: err}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{netErr: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	r := reply{status: resp.StatusCode, took: time.Since(start), body: raw, replayed: resp.Header.Get("Idempotent-Replayed") == "true"}
	if err != nil {
		r.netErr = err
		return r
	}
	if resp.StatusCode < 300 {
		json.Unmarshal(raw, &r.conv)
	} else {
		var eb httpapi.ErrorBody
		json.Unmarshal(raw, &eb)
		r.err = eb.Error
	}
	return r
}

// create posts one conversation, with an Idempotency-Key when key is set.
func (c *client) create(ctx context.Context, title, content, key string) reply {
	b, _ := json.Marshal(map[string]string{"title": title, "content": content})
	h := http.Header{}
	if key != "" {
		h.Set("Idempotency-Key", key)
	}
	return c.do(ctx, http.MethodPost, "/api/conversations", b, h)
}

// listAll reads every conversation of the owner, newest first.
func (c *client) listAll(ctx context.Context) ([]httpapi.Conversation, error) {
	var all []httpapi.Conversation
	cursor := ""
	for {
		path := "/api/conversations?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := c.do(ctx, http.MethodGet, path, nil, nil)
		if r.netErr != nil || r.status != http.StatusOK {
			return nil, fmt.Errorf("list: %s", r)
		}
		var page httpapi.ConversationList
		if err := json.Unmarshal(r.body, &page); err != nil {
			return nil, fmt.Errorf("list: %v", err)
		}
		for _, it := range page.Items {
			all = append(all, it.Conversation) // content is a preview
		}
		if page.NextCursor == nil {
			return all, nil
		}
		cursor = *page.NextCursor
	}
}

// settle lists the owner's conversations until every id in want is done or
// failed, or within passes; it returns the last listing by id.
func (c *client) settle(t *testing.T, want map[string]bool, within time.Duration) map[string]httpapi.Conversation {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		all, err := c.listAll(ctx)
		cancel()
		byID := map[string]httpapi.Conversation{}
		open := 0
		if err == nil {
			for _, v := range all {
				byID[v.ID] = v
			}
			for id := range want {
				if v, ok := byID[id]; !ok || (v.AIStatus != "done" && v.AIStatus != "failed") {
					open++
				}
			}
			if open == 0 {
				return byID
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Errorf("settle: %v", err)
			} else {
				t.Errorf("%d of %d conversations not finished within %s", open, len(want), within)
			}
			return byID
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// producer posts numbered conversations at a steady rate from several
// goroutines and remembers what the API answered.
type producer struct {
	prefix string
	// retry re-sends a create that got no 201 with the same
	// Idempotency-Key until it does (or the context ends).
	retry bool

	mu        sync.Mutex
	ids       map[string]string // conversation id → key
	byKey     map[string]string // key → conversation id
	firstTry  []time.Duration   // latency of every first attempt
	latencies []time.Duration   // of every attempt
	stamped   []stamped         // every attempt's start and answer, for windows
	refusals  map[string]int    // non-201 answers by "status code" or "network"
	samples   map[string]string // one example answer per refusal kind
	unsettled []string          // keys never accepted
	replays   int               // 201s marked Idempotent-Replayed
	wg        sync.WaitGroup
}

type stamped struct {
	at     time.Time
	took   time.Duration
	status int
}

func (p *producer) title(i int) string { return fmt.Sprintf("%s-%05d", p.prefix, i) }

// content is what conversation i says; it carries its title so a listing
// can be matched to what was sent, and its codeword, a word no other
// conversation has, so a search can find it alone.
func (p *producer) content(i int) string {
	return fmt.Sprintf("%s. Alice: I will send the budget deck to finance by Friday. Bob: we need to fix the login bug before the release. Carol: please review the onboarding draft. Codeword %s.", p.title(i), codeword(p.title(i)))
}

// codeword is a word made of the title alone: twelve letters from its
// hash, which an English analyzer keeps as one term.
func codeword(title string) string {
	h := fnv.New64a()
	h.Write([]byte(title))
	v := h.Sum64()
	b := []byte("zq")
	for range 10 {
		b = append(b, byte('a'+v%26))
		v /= 26
	}
	return string(b)
}

// produce starts n creates at rate per second (0: as fast as the workers
// go) from workers goroutines; wait for them with p.wait.
func produce(ctx context.Context, c *client, prefix string, n int, rate float64, workers int, retry bool) *producer {
	p := &producer{prefix: prefix, retry: retry, ids: map[string]string{}, byKey: map[string]string{},
		refusals: map[string]int{}, samples: map[string]string{}}
	next := make(chan int)
	p.wg.Go(func() {
		defer close(next)
		start := time.Now()
		for i := range n {
			if rate > 0 {
				if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
			}
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	})
	for range workers {
		p.wg.Go(func() {
			for i := range next {
				p.one(ctx, c, i)
			}
		})
	}
	return p
}

func (p *producer) one(ctx context.Context, c *client, i int) {
	key := p.title(i)
	for try := 0; ; try++ {
		at := time.Now()
		r := c.create(ctx, p.title(i), p.content(i), key)
		p.mu.Lock()
		p.latencies = append(p.latencies, r.took)
		p.stamped = append(p.stamped, stamped{at: at, took: r.took, status: r.status})
		if try == 0 {
			p.firstTry = append(p.firstTry, r.took)
		}
		if r.netErr == nil && r.status == http.StatusCreated && r.conv.ID != "" {
			if prev, ok := p.byKey[key]; ok && prev != r.conv.ID {
				p.refusals["replay with another id"]++
				p.samples["replay with another id"] = fmt.Sprintf("key %s: %s then %s", key, prev, r.conv.ID)
			}
			p.byKey[key] = r.conv.ID
			p.ids[r.conv.ID] = key
			if r.replayed {
				p.replays++
			}
			p.mu.Unlock()
			return
		}
		kind := "network"
		if r.netErr == nil {
			kind = fmt.Sprintf("%d %s", r.status, r.err.Code)
		}
		p.refusals[kind]++
		if _, ok := p.samples[kind]; !ok {
			p.samples[kind] = r.String()
		}
		p.mu.Unlock()
		if !p.retry || ctx.Err() != nil {
			p.mu.Lock()
			p.unsettled = append(p.unsettled, key)
			p.mu.Unlock()
			return
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

func (p *producer) wait() { p.wg.Wait() }

// accepted returns the ids of every conversation the API accepted.
func (p *producer) accepted() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]bool, len(p.ids))
	for id := range p.ids {
		out[id] = true
	}
	return out
}

// refused renders the non-201 answers, e.g. "503 unavailable: 12".
func (p *producer) refused() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.refusals) == 0 {
		return "none"
	}
	var parts []string
	for k, n := range p.refusals {
		parts = append(parts, fmt.Sprintf("%s: %d", k, n))
	}
	return strings.Join(parts, ", ")
}

func (p *producer) totalRefused() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, v := range p.refusals {
		n += v
	}
	return n
}

// window returns the latencies of attempts started between from and to.
func (p *producer) window(from, to time.Time) []time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []time.Duration
	for _, s := range p.stamped {
		if !s.at.Before(from) && s.at.Before(to) {
			out = append(out, s.took)
		}
	}
	return out
}

// account fills the scenario's row from what was accepted (the ids the
// 201 answers carried), what the API lists at the end and what the workers
// logged, and fails the test on any loss, any duplicate result and, unless
// workers were killed, any analysis run twice.
func (s *scenario) account(accepted map[string]bool, final map[string]httpapi.Conversation, ls logStats) {
	s.t.Helper()
	s.res.Accepted = len(accepted)
	s.accountStates(accepted, final, ls)
	s.accountResults(accepted, final, ls)
	s.accountCalls(accepted, final, ls)
}

// accountStates counts what became of each accepted conversation: done,
// failed with a reason, or lost (missing, or never finished).
func (s *scenario) accountStates(accepted map[string]bool, final map[string]httpapi.Conversation, ls logStats) {
	t, r := s.t, s.res
	t.Helper()
	var missing, unfinished, noReason, unlogged []string
	for id := range accepted {
		v, ok := final[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case v.AIStatus == "done":
			r.Done++
			if ls.doneWrites[id] == 0 {
				unlogged = append(unlogged, id)
			}
		case v.AIStatus == "failed":
			r.Failed++
			if v.AIError == nil || strings.TrimSpace(*v.AIError) == "" {
				noReason = append(noReason, id)
			}
		default:
			unfinished = append(unfinished, id+" ("+v.AIStatus+")")
		}
	}
	r.Lost = len(missing) + len(unfinished)
	if len(missing) > 0 {
		t.Errorf("LOST: %d accepted conversations are missing, e.g. %s", len(missing), missing[0])
	}
	if len(unfinished) > 0 {
		t.Errorf("LOST: %d accepted conversations never finished, e.g. %s", len(unfinished), unfinished[0])
	}
	if s.allDone && r.Failed > 0 {
		t.Errorf("%d conversations failed; in this scenario every one must end done", r.Failed)
	}
	if len(noReason) > 0 {
		t.Errorf("%d conversations failed without a reason, e.g. %s", len(noReason), noReason[0])
	}
	if len(unlogged) > 0 {
		if s.killed {
			r.note("%d results stored by a worker killed before it logged the job line (their redelivery found them done and skipped)", len(unlogged))
		} else {
			t.Errorf("%d conversations are done with no job line saying so, e.g. %s", len(unlogged), unlogged[0])
		}
	}
}

// accountResults counts duplicate results: a conversation whose result was
// written more than once, or one that exists though no create was answered
// with it.
func (s *scenario) accountResults(accepted map[string]bool, final map[string]httpapi.Conversation, ls logStats) {
	t := s.t
	t.Helper()
	var dups, extras []string
	for id, n := range ls.doneWrites {
		if n > s.runsOf(id) {
			dups = append(dups, fmt.Sprintf("%s written %d times", id, n))
		}
	}
	for id := range final {
		if !accepted[id] {
			extras = append(extras, id)
		}
	}
	s.res.DupResults = len(dups) + len(extras)
	if len(dups) > 0 {
		t.Errorf("DUPLICATE: %d conversations had more than one result written, e.g. %s", len(dups), dups[0])
	}
	if len(extras) > 0 {
		t.Errorf("DUPLICATE: %d conversations exist that no create was answered with, e.g. %s", len(extras), extras[0])
	}
}

// accountCalls counts the model calls (or local analyses) per conversation
// and run: exactly one per run that ended done, none for a run that failed.
// More is work done twice, which the conditional result write hides, and
// fails the test, killed workers or not. Only two faults excuse a call
// more, each seen where it happened: the store refused to save the result
// (the job line says so), or the process that made the call was SIGKILLed
// after the model answered (the wire fake says who called). Both are
// counted as dup calls all the same, and reported.
func (s *scenario) accountCalls(accepted map[string]bool, final map[string]httpapi.Conversation, ls logStats) {
	t, r := s.t, s.res
	t.Helper()
	calls, counted := s.calls, "wire"
	if calls == nil {
		calls, counted = ls.analyses, "log"
	}
	r.Counted = counted
	var dups, excused, short, stray []string
	for id := range accepted {
		v, ok := final[id]
		if !ok || (v.AIStatus != "done" && v.AIStatus != "failed") {
			continue // lost: counted as such
		}
		n, want := calls[id], s.runsOf(id)
		if v.AIStatus == "failed" {
			want-- // the last run's analyses all failed
		}
		r.ModelCalls += n
		switch extra := n - want; {
		case extra > ls.unsaved[id]+s.cutOff[id]:
			r.DupCalls += extra
			dups = append(dups, fmt.Sprintf("%s: %d analyses for %d runs", id, n, s.runsOf(id)))
		case extra > 0:
			r.DupCalls += extra
			excused = append(excused, id)
		case extra < 0:
			short = append(short, fmt.Sprintf("%s (%s): %d analyses for %d runs", id, v.AIStatus, n, s.runsOf(id)))
		}
	}
	for id, n := range calls {
		if !accepted[id] {
			stray = append(stray, fmt.Sprintf("%s: %d", id, n))
		}
	}
	slices.Sort(dups)
	if len(dups) > 0 {
		t.Errorf("DUPLICATE WORK: %d conversations analysed more than once per run (%d extra model calls), e.g. %s", len(dups), r.DupCalls, dups[0])
	}
	if len(excused) > 0 {
		r.note("%d conversations analysed again after a fault took the first answer: the store refused the result (%d jobs) or the calling worker was SIGKILLed after the model answered (%d calls)",
			len(excused), sumOf(ls.unsaved), sumOf(s.cutOff))
	}
	if len(short) > 0 && !s.killed {
		t.Errorf("%d finished conversations have fewer analyses than runs (an analysis nobody counted), e.g. %s", len(short), short[0])
	}
	if len(stray) > 0 {
		t.Errorf("%d conversations were analysed that no create was answered with, e.g. %s", len(stray), stray[0])
	}
}

// sumOf adds up a count per conversation.
func sumOf(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// runsOf is how many runs conversation id was analysed in.
func (s *scenario) runsOf(id string) int {
	if n := s.runs[id]; n > 0 {
		return n
	}
	return 1
}

// processedTimes is processed_at − created_at, as the server stamped them,
// for every finished conversation among ids.
func processedTimes(final map[string]httpapi.Conversation, ids map[string]bool) []time.Duration {
	var out []time.Duration
	for id := range ids {
		v, ok := final[id]
		if !ok || v.ProcessedAt == nil {
			continue
		}
		created, err1 := time.Parse(time.RFC3339Nano, v.CreatedAt)
		done, err2 := time.Parse(time.RFC3339Nano, *v.ProcessedAt)
		if err1 == nil && err2 == nil {
			out = append(out, done.Sub(created))
		}
	}
	return out
}
