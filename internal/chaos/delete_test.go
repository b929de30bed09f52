package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/embedded"
	"recall/internal/fulltext"
	"recall/internal/httpapi"
	"recall/internal/recall"
)

// The scenarios in this file hold Recall to "a delete leaves nothing
// behind": several owners post conversations while workers analyse them
// with the Bedrock wire fake answering slowly, and a random half is deleted
// at chosen moments — just after the 201 (still queued), while the model
// call for it is in flight, just after that call answered (racing the
// result write), or at a random time. Afterwards, and again after the
// queue has drained and after every process was restarted (the embedded
// index catches up with the store at start, and must not bring anything
// back), every deleted conversation must be gone: GET 404, absent from the
// listing, from the action items, from search by a word only it contained,
// and from the index itself, read from its directory while nothing runs.
// Every kept conversation must be done and found by its word.

// delPhases are the moments a conversation is deleted at.
var delPhases = []string{"queued", "in flight", "just answered", "random"}

// deletion is one conversation the scenario deletes.
type deletion struct {
	id, title string
	owner     int
	phase     string
	due       time.Time // when to delete ("random", "just answered")
	seen      string    // its ai_status in a GET just before the delete
	done      bool
}

// ghosts records every place a deleted conversation was found again
// after its delete answered 204.
type ghosts struct {
	first map[string]string   // id → the first place it was found
	where map[string][]string // place → ids found there, in order
	order []string            // places in the order first met
}

func newGhosts() *ghosts { return &ghosts{first: map[string]string{}, where: map[string][]string{}} }

// found records deleted conversation d found at place (e.g. "listed after a
// restart").
func (g *ghosts) found(d *deletion, place string) {
	if _, ok := g.first[d.id]; !ok {
		g.first[d.id] = place
	}
	if _, ok := g.where[place]; !ok {
		g.order = append(g.order, place)
	}
	g.where[place] = append(g.where[place], d.id+" ("+d.phase+")")
}

// report fails the test once per place, with a count and an example.
func (g *ghosts) report(t *testing.T) {
	t.Helper()
	for _, place := range g.order {
		ids := g.where[place]
		t.Errorf("RESURRECTED: %d deleted conversations %s, e.g. %s", len(ids), place, ids[0])
	}
}

// delRig is a deployment the delete race runs against: how to start its
// processes (ready to serve and process) and stop them cleanly, and where
// its embedded index lives ("" when it has none).
type delRig struct {
	s        *scenario
	base     string
	fake     *modelFake
	start    func()
	stop     func()
	indexDir string
}

// TestDeleteRacesProcessing runs the delete race on the embedded default:
// one `recall serve` with its in-process queue and workers, the bbolt store
// and the bleve index in its data directory.
func TestDeleteRacesProcessing(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("delete racing processing, %d convs (embedded)", sz.deleteConvs))
	fake := newModelFake(t, sz.deleteLatency)
	data := t.TempDir()
	env := recallEnv(append(fake.env(), "RECALL_CONCURRENCY=8", "RECALL_SWEEP_EVERY=500ms", "RECALL_STALE_AFTER=5s")...)
	addr := freeAddr(t)
	var api *proc
	rig := &delRig{s: s, base: "http://" + addr, fake: fake, indexDir: filepath.Join(data, embedded.IndexDir),
		start: func() { api = s.serve(addr, env, "--data", data, "--grace", "5s") },
		stop:  func() { stopClean(t, api, 15*time.Second) },
	}
	deleteRace(t, rig)
}

// TestDeleteRacesProcessingShared runs it on Redis and dynalite with the
// API (`recall serve --no-worker`) and a `recall worker` as separate
// processes. This deployment has no search index without S3 Vectors, so
// search answers 501 and the index checks are left to the embedded run.
func TestDeleteRacesProcessingShared(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("delete racing processing, %d convs (Redis+dynalite, worker)", sz.deleteConvs))
	env, fake := sharedEnv(t, s, "chaos-delete", sz.deleteLatency, "RECALL_SWEEP_EVERY=500ms", "RECALL_STALE_AFTER=5s")
	addr := freeAddr(t)
	wenv := append(env[:len(env):len(env)], "RECALL_CONCURRENCY=8")
	var api, w *proc
	rig := &delRig{s: s, base: "http://" + addr, fake: fake,
		start: func() {
			api = s.serve(addr, env, "--no-worker", "--grace", "5s")
			w = s.worker(wenv)
		},
		stop: func() {
			stopClean(t, w, 15*time.Second)
			stopClean(t, api, 15*time.Second)
		},
	}
	deleteRace(t, rig)
}

// deleteRace posts sz.deleteConvs conversations from three owners at once,
// deletes a random half at the moments of delPhases, and then checks that
// nothing of a deleted one is left, at three points: once the queue has
// drained, after a restart, and after another (with search).
func deleteRace(t *testing.T, rig *delRig) {
	s := rig.s
	rig.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const owners = 3
	clients := make([]*client, owners)
	prods := make([]*producer, owners)
	for i := range owners {
		clients[i] = newClient(rig.base, token(t, fmt.Sprintf("chaos-delete-%d", i)))
		prods[i] = produce(ctx, clients[i], fmt.Sprintf("del%d", i), sz.deleteConvs/owners, 0, 4, false)
	}
	produced := make(chan struct{})
	go func() {
		for _, p := range prods {
			p.wait()
		}
		close(produced)
	}()
	dels := deleter(ctx, t, rig, clients, prods, produced)
	words := map[string]string{}
	for _, p := range prods {
		p.wait()
		for id, title := range p.ids {
			words[id] = codeword(title)
		}
		if n := p.totalRefused(); n > 0 {
			t.Errorf("%d creates were refused: %s", n, p.refused())
		}
	}

	// A delete that did not answer 204 has failed the test; the
	// conversation counts as kept.
	dels = slices.DeleteFunc(dels, func(d *deletion) bool { return !d.done })
	gone := map[string]*deletion{}
	for _, d := range dels {
		gone[d.id] = d
	}
	kept := make([]map[string]bool, owners)
	final := map[string]httpapi.Conversation{}
	for i, p := range prods {
		kept[i] = map[string]bool{}
		for id := range p.accepted() {
			if gone[id] == nil {
				kept[i][id] = true
			}
		}
		copyInto(final, clients[i].settle(t, kept[i], sz.settleWithin))
	}
	drained := waitDrained(t, s, merged(prods...), rig.fake)

	resurrected := newGhosts()
	check := func(when string) {
		for i, c := range clients {
			checkGone(ctx, t, c, i, dels, kept[i], when, resurrected)
		}
	}
	check("after the queue drained")
	rig.stop()
	checkIndex(t, rig.indexDir, words, dels, kept, "after the queue drained", resurrected)
	rig.start() // the embedded index catches up with the store here
	check("after a restart")
	rig.stop()
	checkIndex(t, rig.indexDir, words, dels, kept, "after a restart", resurrected)
	rig.start()
	searched := checkSearch(ctx, t, rig, clients, words, dels, kept, resurrected)
	check("after a second restart")
	rig.stop()

	s.countWire(rig.fake, prods...)
	delReport(t, s, rig, prods, final, gone, resurrected, drained, searched)
}

// copyInto copies src into dst.
func copyInto[K comparable, V any](dst, src map[K]V) {
	for k, v := range src {
		dst[k] = v
	}
}

// deleter watches the producers' 201s and deletes a random half of the
// conversations, each at the moment its phase names, until every
// producer has finished and every chosen conversation is deleted. It
// returns the deletions, each with the status a GET saw just before.
func deleter(ctx context.Context, t *testing.T, rig *delRig, clients []*client, prods []*producer, produced <-chan struct{}) []*deletion {
	t.Helper()
	rng := rand.New(rand.NewPCG(15, uint64(time.Now().UnixNano())))
	seen := map[string]bool{}
	var all, open []*deletion
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	deadline := time.Now().Add(sz.settleWithin)
	for {
		finished := false
		select {
		case <-produced:
			finished = true
		default:
		}
		for i, p := range prods {
			p.mu.Lock()
			for title, id := range p.byKey {
				if seen[id] {
					continue
				}
				seen[id] = true
				if rng.IntN(2) == 0 {
					continue
				}
				d := &deletion{id: id, title: title, owner: i, phase: delPhases[rng.IntN(len(delPhases))]}
				if d.phase == "random" {
					d.due = time.Now().Add(time.Duration(rng.Int64N(int64(sz.deleteSpread))))
				}
				all, open = append(all, d), append(open, d)
			}
			p.mu.Unlock()
		}
		inFlight, answered := rig.fake.titles()
		now := time.Now()
		open = slices.DeleteFunc(open, func(d *deletion) bool {
			switch d.phase {
			case "in flight":
				if !inFlight[d.title] {
					return false
				}
			case "just answered":
				// Within 20ms of the answer: racing the result write.
				if !answered[d.title] {
					return false
				}
				if d.due.IsZero() {
					d.due = now.Add(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
				}
				if now.Before(d.due) {
					return false
				}
			case "random":
				if now.Before(d.due) {
					return false
				}
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				deleteOne(ctx, t, clients[d.owner], d)
			})
			return true
		})
		if finished && len(open) == 0 {
			break
		}
		if now.After(deadline) {
			t.Errorf("%d deletions never came to their moment, e.g. %s (%s)", len(open), open[0].title, open[0].phase)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	return all
}

// deleteOne reads the conversation's status, deletes it (204), and
// deletes it again (404).
func deleteOne(ctx context.Context, t *testing.T, c *client, d *deletion) {
	path := "/api/conversations/" + d.id
	if r := c.do(ctx, http.MethodGet, path, nil, nil); r.status == http.StatusOK {
		d.seen = r.conv.AIStatus
	} else {
		d.seen = "GET " + r.String()
	}
	r := c.do(ctx, http.MethodDelete, path, nil, nil)
	if r.netErr != nil || r.status != http.StatusNoContent {
		t.Errorf("DELETE %s (%s, %s): %s, want 204", d.title, d.phase, d.seen, r)
		return
	}
	d.done = true
	if r := c.do(ctx, http.MethodDelete, path, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("second DELETE %s: %s, want 404", d.title, r)
	}
}

// titles returns the titles whose model call is in flight, and those
// whose call has answered.
func (f *modelFake) titles() (inFlight, answered map[string]bool) {
	reqs := f.srv.Requests()
	f.mu.Lock()
	defer f.mu.Unlock()
	inFlight, answered = map[string]bool{}, map[string]bool{}
	finished := map[int]bool{}
	for _, r := range reqs {
		finished[r.Seq] = true
		answered[f.started[r.Seq].Title] = true
	}
	for seq, c := range f.started {
		if !finished[seq] {
			inFlight[c.Title] = true
		}
	}
	return inFlight, answered
}

// waitDrained waits until every accepted conversation's job has ended (a
// job line done, skipped or failed) and no model call is in flight, and
// returns the job outcomes of the deleted ones' last lines.
func waitDrained(t *testing.T, s *scenario, accepted map[string]bool, fake *modelFake) logStats {
	t.Helper()
	deadline := time.Now().Add(sz.settleWithin)
	for {
		ls := s.logs()
		ended := map[string]bool{}
		for _, j := range ls.jobs {
			if j.Outcome == "done" || j.Outcome == "skipped" || j.Outcome == "failed" {
				ended[j.ConversationID] = true
			}
		}
		open := 0
		for id := range accepted {
			if !ended[id] {
				open++
			}
		}
		inFlight, _ := fake.titles()
		if open == 0 && len(inFlight) == 0 {
			return ls
		}
		if time.Now().After(deadline) {
			t.Errorf("the queue did not drain within %s: %d conversations without an ended job, %d model calls in flight", sz.settleWithin, open, len(inFlight))
			return ls
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkGone checks through the API that no conversation owner i deleted
// is there (GET 404, not listed, no action item) and that every kept one
// is listed done, recording what it finds in resurrected.
func checkGone(ctx context.Context, t *testing.T, c *client, owner int, dels []*deletion, kept map[string]bool, when string, resurrected *ghosts) {
	t.Helper()
	listed, err := c.listAll(ctx)
	if err != nil {
		t.Errorf("%s: %v", when, err)
		return
	}
	byID := map[string]httpapi.Conversation{}
	for _, v := range listed {
		byID[v.ID] = v
	}
	items, err := c.allItems(ctx)
	if err != nil {
		t.Errorf("%s: %v", when, err)
	}
	for _, d := range dels {
		if d.owner != owner {
			continue
		}
		if _, ok := byID[d.id]; ok {
			resurrected.found(d, "listed "+when)
		}
		if items[d.id] > 0 {
			resurrected.found(d, "with action items listed "+when)
		}
		if r := c.do(ctx, http.MethodGet, "/api/conversations/"+d.id, nil, nil); r.status != http.StatusNotFound {
			resurrected.found(d, fmt.Sprintf("answering GET with %d %s", r.status, when))
		}
	}
	notDone := 0
	for id := range kept {
		if v, ok := byID[id]; !ok || v.AIStatus != "done" {
			notDone++
		}
	}
	if notDone > 0 {
		t.Errorf("%s: %d kept conversations of owner %d are not listed done", when, notDone, owner)
	}
}

// allItems counts the owner's action items by conversation, open and done.
func (c *client) allItems(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	cursor := ""
	for {
		path := "/api/action-items?status=all&limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := c.do(ctx, http.MethodGet, path, nil, nil)
		if r.netErr != nil || r.status != http.StatusOK {
			return out, fmt.Errorf("action items: %s", r)
		}
		var page httpapi.ActionItemList
		if err := json.Unmarshal(r.body, &page); err != nil {
			return out, fmt.Errorf("action items: %v", err)
		}
		for _, it := range page.Items {
			out[it.ConversationID]++
		}
		if page.NextCursor == nil {
			return out, nil
		}
		cursor = *page.NextCursor
	}
}

// checkIndex opens the embedded index from its directory while no recall
// process runs and searches it directly for every conversation's word: a
// deleted one must have no entry (the API's search drops a hit the store
// no longer has, so only the index itself shows an entry left behind),
// a kept one must have its entry.
func checkIndex(t *testing.T, dir string, words map[string]string, dels []*deletion, kept []map[string]bool, when string, resurrected *ghosts) {
	t.Helper()
	if dir == "" {
		return
	}
	x, err := fulltext.Open(dir, fulltext.Options{})
	if err != nil {
		t.Errorf("open the index %s: %v", when, err)
		return
	}
	defer x.Close()
	ctx := context.Background()
	has := func(owner int, id string) bool {
		page, err := x.Search(ctx, fmt.Sprintf("chaos-delete-%d", owner), recall.SearchQuery{Text: words[id], Limit: 10})
		if err != nil {
			t.Errorf("index search %s: %v", when, err)
			return false
		}
		return slices.ContainsFunc(page.Hits, func(h recall.SearchHit) bool { return h.ID == id })
	}
	for _, d := range dels {
		if has(d.owner, d.id) {
			resurrected.found(d, "with an entry in the index "+when)
		}
	}
	missing, total := 0, 0
	for i, ids := range kept {
		for id := range ids {
			total++
			if !has(i, id) {
				missing++
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d kept conversations have no index entry %s", missing, total, when)
	}
	if n, err := x.Count(); err != nil || n != uint64(total) {
		t.Errorf("the index holds %d documents %s (%v); want the %d kept", n, when, err, total)
	}
}

// checkSearch searches through the API for every conversation's word: a
// deleted one must not be found, a kept one must be the first hit. It
// returns a note on what it did.
func checkSearch(ctx context.Context, t *testing.T, rig *delRig, clients []*client, words map[string]string, dels []*deletion, kept []map[string]bool, resurrected *ghosts) string {
	t.Helper()
	search := func(c *client, id string) ([]string, int) {
		r := c.do(ctx, http.MethodGet, "/api/search?q="+url.QueryEscape(words[id]), nil, nil)
		if r.status != http.StatusOK {
			return nil, r.status
		}
		var page httpapi.SearchList
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Errorf("search: %v", err)
		}
		var ids []string
		for _, it := range page.Items {
			ids = append(ids, it.Conversation.ID)
		}
		return ids, r.status
	}
	if rig.indexDir == "" {
		words["x"] = "anything"
		if _, status := search(clients[0], "x"); status != http.StatusNotImplemented {
			t.Errorf("search without an index answered %d, want 501", status)
		}
		return "search: not configured on this deployment (501), as documented; the embedded run checks it"
	}
	for _, d := range dels {
		ids, status := search(clients[d.owner], d.id)
		if status != http.StatusOK {
			t.Errorf("search for deleted %s: %d", d.id, status)
		}
		if slices.Contains(ids, d.id) {
			resurrected.found(d, "found by GET /api/search")
		}
	}
	unfound, n := 0, len(dels)
	for i, ids := range kept {
		for id := range ids {
			n++
			if got, _ := search(clients[i], id); len(got) == 0 || got[0] != id {
				unfound++
			}
		}
	}
	if unfound > 0 {
		t.Errorf("%d kept conversations are not the first hit for their own word", unfound)
	}
	return fmt.Sprintf("search by each conversation's codeword through the API (%d searches, after the second restart)", n)
}

// delReport fills the row: the kept conversations are what must be done
// (and are what account holds to "accepted"), the deleted ones must be
// gone, with at most one model call each and no result written twice.
func delReport(t *testing.T, s *scenario, rig *delRig, prods []*producer, final map[string]httpapi.Conversation, gone map[string]*deletion, resurrected *ghosts, drained logStats, searched string) {
	t.Helper()
	accepted := merged(prods...)
	keptIDs := map[string]bool{}
	for id := range accepted {
		if gone[id] == nil {
			keptIDs[id] = true
		}
	}
	for id := range gone {
		delete(final, id) // a resurrected one is counted as such
	}
	delCalls := map[string]int{}
	for id := range gone {
		if n := s.calls[id]; n > 0 {
			delCalls[id] = n
			delete(s.calls, id)
		}
	}
	ls := s.logs()
	s.checkLogs(ls)
	s.account(keptIDs, final, ls)
	s.res.Accepted = len(accepted)
	s.res.Deleted, s.res.Resurrected = len(gone), len(resurrected.first)
	extra := 0
	for id, n := range delCalls {
		s.res.ModelCalls += n
		if n > 1 {
			extra += n - 1
			t.Errorf("DUPLICATE WORK: deleted conversation %s analysed %d times", id, n)
		}
	}
	s.res.DupCalls += extra
	delNotes(s, gone, delCalls, drained)
	s.res.note("%s", searched)
	resurrected.report(t)
	checked := []string{"GET (404), the listing and the action items after the drain and after each of two restarts"}
	if rig.indexDir != "" {
		checked = append(checked, "GET /api/search by its codeword after the second restart",
			"the index itself, opened from its directory while nothing ran, after the drain and after the first restart")
	}
	if len(resurrected.first) == 0 && !t.Failed() {
		kept := "every kept one done"
		if rig.indexDir != "" {
			kept += ", in the index and found first by its word"
		}
		s.res.note("every delete answered 204 and a second one 404; no deleted conversation found again by %s; %s", strings.Join(checked, "; "), kept)
		return
	}
	var ex []string
	for id, where := range resurrected.first {
		ex = append(ex, id+" "+where)
	}
	slices.Sort(ex)
	if len(ex) > 0 {
		s.res.note("RESURRECTED %d (checked %s), e.g. %s", len(ex), strings.Join(checked, "; "), ex[0])
	}
}

// delNotes says when the deletions happened and how their jobs ended.
func delNotes(s *scenario, gone map[string]*deletion, delCalls map[string]int, ls logStats) {
	byPhase := map[string]map[string]int{}
	for _, d := range gone {
		if byPhase[d.phase] == nil {
			byPhase[d.phase] = map[string]int{}
		}
		byPhase[d.phase][d.seen]++
	}
	var parts []string
	for _, ph := range delPhases {
		parts = append(parts, fmt.Sprintf("%s %v", ph, byPhase[ph]))
	}
	s.res.note("%d deleted; by moment, with the status a GET saw just before: %s", len(gone), strings.Join(parts, "; "))
	last := map[string]string{}
	for _, j := range ls.jobs {
		if gone[j.ConversationID] != nil {
			last[j.ConversationID] = j.Outcome
		}
	}
	outcomes := map[string]int{}
	for _, o := range last {
		outcomes[o]++
	}
	analysedThenGone := 0
	for id, n := range delCalls {
		if n > 0 && last[id] == "skipped" {
			analysedThenGone++
		}
	}
	s.res.note("deleted conversations' last job outcomes: %v; %d of them were analysed and their job then ended skipped (the conversation was gone when the result was to be written)", outcomes, analysedThenGone)
}
