package chaos

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"recall/internal/httpapi"
)

// forge builds a JWT from a header and claims, signed with HMAC (hs is the
// hash) over key, or with sig as the literal signature when hs is nil.
func forge(header, claims map[string]any, hs func() hash.Hash, key []byte, sig string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if hs != nil {
		m := hmac.New(hs, key)
		m.Write([]byte(signing))
		sig = base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	return signing + "." + sig
}

// attack is one hostile request and the refusal it must get.
type attack struct {
	name   string
	method string
	path   string // sent as is on the request line
	header http.Header
	body   string
	want   []int  // acceptable statuses
	code   string // error code the JSON body must carry ("" for none)
}

// raw sends a request with path exactly as given (no client-side cleaning
// or escaping) and returns the status and body.
func raw(addr string, a attack) (int, []byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", a.method, a.path, addr)
	for k, vs := range a.header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	if a.body != "" {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(a.body))
	}
	b.WriteString("\r\n")
	b.WriteString(a.body)
	// Written while the answer is read: a server may refuse a large body
	// before reading it all, and then closes the connection under the
	// writer.
	wrote := make(chan error, 1)
	go func() {
		_, err := io.WriteString(conn, b.String())
		wrote <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		if werr := <-wrote; werr != nil {
			return 0, nil, fmt.Errorf("%w (writing: %v)", err, werr)
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// TestAuthAttacks attacks a running `recall serve` over its real listener
// with forged, expired and misused tokens, cross-owner reads and path
// tricks. Each must be refused with its documented status (and never
// answered with the other owner's data, a 500 or a panic); valid requests
// are sent alongside as controls.
func TestAuthAttacks(t *testing.T) {
	s := newScenario(t, "auth attacks, cross-owner and path tricks")
	addr := freeAddr(t)
	api := s.serve(addr, recallEnv(), "--data", t.TempDir())
	aliceTok, bobTok := token(t, "alice"), token(t, "bob")
	alice, bob := newClient("http://"+addr, aliceTok), newClient("http://"+addr, bobTok)
	ctx := context.Background()
	mk := func(c *client, title string) string {
		t.Helper()
		r := c.create(ctx, title, title+": the secret plan. Alice will send the deck by Friday.", "")
		if r.status != http.StatusCreated {
			t.Fatalf("create %s: %s", title, r)
		}
		return r.conv.ID
	}
	a := mk(alice, "alice-private")
	b := mk(bob, "bob-private")
	bobs := map[string]bool{b: true}
	for i := range 3 {
		bobs[mk(bob, fmt.Sprintf("bob-more-%d", i))] = true
	}
	page := bob.do(ctx, http.MethodGet, "/api/conversations?limit=1", nil, nil)
	var bobPage httpapi.ConversationList
	if json.Unmarshal(page.body, &bobPage) != nil || bobPage.NextCursor == nil {
		t.Fatalf("bob's first page: %s", page)
	}
	bobCursor := *bobPage.NextCursor

	now := time.Now().Unix()
	secret := []byte(jwtSecret)
	hs256 := map[string]any{"alg": "HS256", "typ": "JWT"}
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": "alice", "iat": now, "exp": now + 3600}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	valid := forge(hs256, claims(nil), sha256.New, secret, "")
	parts := strings.Split(valid, ".")
	bobClaims, _ := json.Marshal(claims(map[string]any{"sub": "bob"}))
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bobClaims) + "." + parts[2]
	get := "/api/conversations/" + a
	unauth := func(name string, h http.Header) attack {
		return attack{name: name, method: "GET", path: get, header: h, want: []int{401}, code: "unauthorized"}
	}
	withToken := func(name, tok string) attack { return unauth(name, bearer(tok)) }

	attacks := []attack{
		// Controls: the same request with good credentials succeeds.
		{name: "control: valid token", method: "GET", path: get, header: bearer(aliceTok), want: []int{200}},
		{name: "control: forged-by-us valid HS256", method: "GET", path: get, header: bearer(valid), want: []int{200}},
		{name: "control: lower-case scheme", method: "GET", path: get, header: http.Header{"Authorization": {"bearer " + aliceTok}}, want: []int{200}},

		unauth("no Authorization header", nil),
		unauth("empty bearer", http.Header{"Authorization": {"Bearer "}}),
		unauth("Basic scheme", http.Header{"Authorization": {"Basic YWxpY2U6cGFzc3dvcmQ="}}),
		unauth("two Authorization headers", http.Header{"Authorization": {"Bearer " + aliceTok, "Bearer " + bobTok}}),
		unauth("token over 8 KiB", bearer(valid+strings.Repeat("A", 9000))),
		withToken("alg none, empty signature", forge(map[string]any{"alg": "none", "typ": "JWT"}, claims(nil), nil, nil, "")),
		withToken("alg none with a valid HS256 signature", forge(map[string]any{"alg": "none"}, claims(nil), sha256.New, secret, "")),
		withToken("alg NONE", forge(map[string]any{"alg": "NONE"}, claims(nil), nil, nil, "")),
		withToken("alg None", forge(map[string]any{"alg": "None"}, claims(nil), nil, nil, "")),
		withToken("HS384 with the secret", forge(map[string]any{"alg": "HS384"}, claims(nil), sha512.New384, secret, "")),
		withToken("HS512 with the secret", forge(map[string]any{"alg": "HS512"}, claims(nil), sha512.New, secret, "")),
		withToken("RS256 header, HMAC signature (algorithm confusion)", forge(map[string]any{"alg": "RS256"}, claims(nil), sha256.New, secret, "")),
		withToken("ES256 header", forge(map[string]any{"alg": "ES256"}, claims(nil), nil, nil, strings.Repeat("A", 86))),
		withToken("no alg", forge(map[string]any{"typ": "JWT"}, claims(nil), sha256.New, secret, "")),
		withToken("kid/jku pointing elsewhere, signed with another key", forge(map[string]any{"alg": "HS256", "kid": "../../dev/null", "jku": "http://127.0.0.1:1/jwks"}, claims(nil), sha256.New, []byte(""), "")),
		withToken("expired an hour ago", forge(hs256, claims(map[string]any{"exp": now - 3600, "iat": now - 7200}), sha256.New, secret, "")),
		withToken("not valid for another hour (nbf)", forge(hs256, claims(map[string]any{"nbf": now + 3600}), sha256.New, secret, "")),
		withToken("issued in the future (iat)", forge(hs256, claims(map[string]any{"iat": now + 3600}), sha256.New, secret, "")),
		withToken("wrong secret", forge(hs256, claims(nil), sha256.New, []byte("another-secret-another-secret-another-secret"), "")),
		withToken("claims swapped to bob, alice's signature", tampered),
		withToken("signature stripped", parts[0]+"."+parts[1]+"."),
		withToken("four segments", valid+".AAAA"),
		withToken("no sub", forge(hs256, claims(map[string]any{"sub": nil}), sha256.New, secret, "")),
		withToken("empty sub", forge(hs256, claims(map[string]any{"sub": ""}), sha256.New, secret, "")),
		withToken("sub is a number", forge(hs256, claims(map[string]any{"sub": 42}), sha256.New, secret, "")),
		withToken("no exp", forge(hs256, claims(map[string]any{"exp": nil}), sha256.New, secret, "")),
		withToken("exp in the past, as a string", forge(hs256, claims(map[string]any{"exp": fmt.Sprint(now - 3600)}), sha256.New, secret, "")),
		withToken("not base64", "!!!.???.***"),
		withToken("header is not JSON", base64.RawURLEncoding.EncodeToString([]byte("not json"))+"."+parts[1]+"."+parts[2]),

		// Another owner's data, with alice's valid token.
		{name: "read bob's conversation", method: "GET", path: "/api/conversations/" + b, header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "read bob's conversation, lower-case id", method: "GET", path: "/api/conversations/" + strings.ToLower(b), header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "read bob's conversation, trailing slash", method: "GET", path: "/api/conversations/" + b + "/", header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "read bob's conversation, owner in the query", method: "GET", path: "/api/conversations/" + b + "?owner=bob&sub=bob", header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "read bob's conversation, identity headers", method: "GET", path: "/api/conversations/" + b,
			header: http.Header{"Authorization": {"Bearer " + aliceTok}, "X-Owner": {"bob"}, "X-Forwarded-User": {"bob"}, "X-Amzn-Oidc-Identity": {"bob"}}, want: []int{404}, code: "not_found"},
		{name: "reprocess bob's conversation", method: "POST", path: "/api/conversations/" + b + "/reprocess", header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "list with bob's cursor", method: "GET", path: "/api/conversations?limit=1&cursor=" + bobCursor, header: bearer(aliceTok), want: []int{400}, code: "invalid_request"},
		{name: "bob reads alice's conversation", method: "GET", path: get, header: bearer(bobTok), want: []int{404}, code: "not_found"},

		// Path tricks, sent byte for byte.
		{name: "path ..", method: "GET", path: "/api/conversations/..", header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "path %2e%2e", method: "GET", path: "/api/conversations/%2e%2e", header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "path ../ to bob's id", method: "GET", path: "/api/conversations/../conversations/" + b, header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "encoded slashes and dots", method: "GET", path: "/api/conversations/..%2f..%2f..%2fetc%2fpasswd", header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "own id %2f.. bob's id", method: "GET", path: "/api/conversations/" + a + "%2f..%2f" + b, header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "bob's id with %00", method: "GET", path: "/api/conversations/" + b + "%00", header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "double-encoded slash", method: "GET", path: "/api/conversations/%252f" + b, header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "backslashes", method: "GET", path: `/api/conversations/..\..\` + b, header: bearer(aliceTok), want: []int{400, 404}},
		{name: "full-width digits", method: "GET", path: "/api/conversations/%EF%BC%90%EF%BC%91" + b[2:], header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "10,000-character id", method: "GET", path: "/api/conversations/" + strings.Repeat("0", 10_000), header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "60,000-character id", method: "GET", path: "/api/conversations/" + strings.Repeat("Z", 60_000), header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "100,000-character id (over the header limit)", method: "GET", path: "/api/conversations/" + strings.Repeat("Z", 100_000), header: bearer(aliceTok), want: []int{431}},
		{name: "malformed escape", method: "GET", path: "/api/conversations/%ZZ", header: bearer(aliceTok), want: []int{400}},
		// Someone else's conversation is missing to a delete as to a read;
		// bob's must still be there, done, at the end (account below).
		{name: "DELETE bob's conversation as alice", method: "DELETE", path: "/api/conversations/" + b, header: bearer(aliceTok), want: []int{404}, code: "not_found"},
		{name: "search for bob's words as alice", method: "GET", path: "/api/search?q=bob-private", header: bearer(aliceTok), want: []int{200}},
		{name: "unknown route", method: "GET", path: "/api/admin", header: bearer(aliceTok), want: []int{404}, code: "not_found"},
	}
	byStatus := map[int]int{}
	for _, at := range attacks {
		status, body, err := raw(addr, at)
		if err != nil {
			t.Errorf("%s: %v", at.name, err)
			continue
		}
		byStatus[status]++
		if !slices.Contains(at.want, status) {
			t.Errorf("%s: %s %s answered %d, want %v: %s", at.name, at.method, truncate(at.path, 80), status, at.want, truncate(string(body), 200))
			continue
		}
		if strings.Contains(string(body), "bob-private") && !strings.HasPrefix(at.name, "control") {
			t.Errorf("%s: the answer holds bob's conversation: %s", at.name, truncate(string(body), 200))
		}
		if at.code != "" {
			var eb httpapi.ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != at.code || eb.Error.Message == "" {
				t.Errorf("%s: body %s, want error code %q with a message", at.name, truncate(string(body), 200), at.code)
			}
		}
	}
	// A list of alice's shows none of bob's.
	all, err := alice.listAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != a {
		t.Errorf("alice's listing holds %d conversations, want only her own", len(all))
	}
	// Each owner's conversations, as their creates answered, must be there
	// and done after the attacks: the final listings of both are checked
	// against those ids (a conversation listed that no create answered
	// with counts as a duplicate).
	accepted := map[string]bool{a: true}
	final := alice.settle(t, map[string]bool{a: true}, 30*time.Second)
	for id, v := range bob.settle(t, bobs, 30*time.Second) {
		final[id] = v
	}
	for id := range bobs {
		accepted[id] = true
	}
	stopClean(t, api, 10*time.Second)
	ls := s.logs()
	s.checkLogs(ls)
	s.account(accepted, final, ls)
	s.res.note("%d requests over the real listener (3 controls), answered by status: %v", len(attacks), byStatus)
}

// TestHostileClients sends oversized headers and bodies and holds many
// slowloris connections (headers, or a body, trickled a byte at a time)
// while normal requests keep being measured: they must keep answering
// promptly (p99 under 1s), the oversized ones must be refused with their
// statuses, and the server's memory must stay bounded.
func TestHostileClients(t *testing.T) {
	s := newScenario(t, fmt.Sprintf("oversized + %d slowloris connections", sz.slowConns))
	addr := freeAddr(t)
	api := s.serve(addr, recallEnv(), "--data", t.TempDir())
	tok := token(t, "victim")
	c := newClient("http://"+addr, tok)
	ctx := context.Background()
	own := c.create(ctx, "victim-0", "Dana: I will draft the migration plan by Monday.", "")
	if own.status != http.StatusCreated {
		t.Fatalf("create: %s", own)
	}
	// Every create answered 201, whatever sent it, must be there and done
	// at the end.
	accepted := map[string]bool{own.conv.ID: true}
	_, peakBefore, _ := rss(api)

	big := `{"content": "` + strings.Repeat("x", 2<<20) + `"}`
	nested := `{"content": ` + strings.Repeat("[", 500_000) + `}`
	manyFields := "{" + strings.Repeat(`"f": 1, `, 50_000) + `"content": "x"}`
	h := func(extra map[string]string) http.Header {
		hh := bearer(tok)
		for k, v := range extra {
			hh.Set(k, v)
		}
		return hh
	}
	oversized := []attack{
		{name: "100 KiB header", method: "GET", path: "/api/health", header: http.Header{"X-Pad": {strings.Repeat("p", 100<<10)}}, want: []int{431}},
		{name: "2 MiB body", method: "POST", path: "/api/conversations", header: bearer(tok), body: big, want: []int{413}, code: "payload_too_large"},
		{name: "content over 100,000 characters", method: "POST", path: "/api/conversations", header: bearer(tok), body: `{"content": "` + strings.Repeat("é", 100_001) + `"}`, want: []int{400}, code: "invalid_request"},
		{name: "500,000-deep nesting", method: "POST", path: "/api/conversations", header: bearer(tok), body: nested, want: []int{400}, code: "invalid_request"},
		{name: "50,000 unknown fields", method: "POST", path: "/api/conversations", header: bearer(tok), body: manyFields, want: []int{400}, code: "invalid_request"},
		{name: "10 KiB Idempotency-Key", method: "POST", path: "/api/conversations", header: h(map[string]string{"Idempotency-Key": strings.Repeat("k", 10<<10)}), body: `{"content": "x"}`, want: []int{400}, code: "invalid_request"},
		{name: "invalid UTF-8 content", method: "POST", path: "/api/conversations", header: bearer(tok), body: "{\"content\": \"\xff\xfe\xfd\"}", want: []int{201, 400}},
		{name: "10 KiB title", method: "POST", path: "/api/conversations", header: bearer(tok), body: `{"content": "x", "title": "` + strings.Repeat("t", 10<<10) + `"}`, want: []int{400}, code: "invalid_request"},
	}
	byStatus := map[int]int{}
	for _, at := range oversized {
		status, body, err := raw(addr, at)
		if err != nil {
			t.Errorf("%s: %v", at.name, err)
			continue
		}
		byStatus[status]++
		if status == http.StatusCreated {
			var v httpapi.Conversation
			if json.Unmarshal(body, &v) != nil || v.ID == "" {
				t.Errorf("%s: a 201 without a conversation: %s", at.name, truncate(string(body), 200))
			}
			accepted[v.ID] = true
		}
		if !slices.Contains(at.want, status) {
			t.Errorf("%s: answered %d, want %v: %s", at.name, status, at.want, truncate(string(body), 200))
			continue
		}
		if at.code != "" {
			var eb httpapi.ErrorBody
			if json.Unmarshal(body, &eb) != nil || eb.Error.Code != at.code {
				t.Errorf("%s: body %s, want code %s", at.name, truncate(string(body), 200), at.code)
			}
		}
	}
	// A body declared at 2 MiB is refused before it is read, and a chunked
	// body that never ends is cut off at the limit.
	for _, at := range []struct {
		name, head string
		chunked    bool
	}{
		{"declared 2 MiB, never sent", "Content-Length: 2097152\r\n", false},
		{"chunked, endless", "Transfer-Encoding: chunked\r\n", true},
	} {
		status, took, err := endless(addr, tok, at.head, at.chunked)
		if err != nil || status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status %d, %v; want 413", at.name, status, err)
		}
		byStatus[status]++
		s.res.note("%s: %d after %s", at.name, status, took.Round(time.Millisecond))
	}

	// Slowloris: hold the connections open, reconnecting whenever the
	// server drops one, while probing with normal requests.
	wctx, stop := context.WithTimeout(ctx, sz.slowWindow)
	defer stop()
	var (
		wg         sync.WaitGroup
		dropped    atomic.Int64
		opened     atomic.Int64
		dropMu     sync.Mutex
		droppedAft []time.Duration
	)
	for i := range sz.slowConns {
		wg.Go(func() {
			for wctx.Err() == nil {
				lived, err := slowConn(wctx, addr, tok, i%4 == 3)
				opened.Add(1)
				if err == nil && wctx.Err() == nil {
					dropped.Add(1)
					dropMu.Lock()
					droppedAft = append(droppedAft, lived)
					dropMu.Unlock()
				}
				if err != nil && wctx.Err() == nil {
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond) // let them all connect
	var lat []time.Duration
	probes, failures := 0, 0
	for wctx.Err() == nil {
		for _, pr := range []func() reply{
			func() reply { return c.do(ctx, http.MethodGet, "/api/health", nil, nil) },
			func() reply { return c.do(ctx, http.MethodGet, "/api/conversations/"+own.conv.ID, nil, nil) },
			func() reply {
				return c.create(ctx, fmt.Sprintf("victim-%d", probes+1), "Eli: please book the review meeting.", "")
			},
		} {
			r := pr()
			if r.status == http.StatusCreated {
				accepted[r.conv.ID] = true
			}
			probes++
			lat = append(lat, r.took)
			if r.netErr != nil || r.status >= 300 {
				failures++
				t.Errorf("a normal request failed during the slowloris: %s", r)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	if p99 := pct(lat, .99); p99 > time.Second {
		t.Errorf("normal requests' p99 was %s while %d slow connections were open; want under 1s", p99, sz.slowConns)
	}
	cur, peak, memOK := rss(api)
	if memOK && peak > 512 {
		t.Errorf("recall serve peaked at %.0f MiB of memory", peak)
	}
	final := c.settle(t, accepted, 30*time.Second)
	stopClean(t, api, 10*time.Second)
	ls := s.logs()
	s.checkLogs(ls)
	s.account(accepted, final, ls)
	s.res.note("oversized and malformed requests by status: %v", byStatus)
	s.res.note("%d normal requests (health, get, create) during %s with %d slow connections (3/4 trickling headers, 1/4 a body): %s, %d failed",
		probes, sz.slowWindow, sz.slowConns, latencies(lat), failures)
	s.res.note("%d slow connections opened, %d dropped by the server (ReadHeaderTimeout 5s): after %s", opened.Load(), dropped.Load(), latencies(droppedAft))
	if memOK {
		s.res.note("recall serve memory: peak %.0f MiB before the attacks, %.0f MiB after (now %.0f MiB)", peakBefore, peak, cur)
	}
}

// slowConn opens a connection and trickles a request a byte every 100ms —
// the headers, or (body) a body after complete headers — until ctx ends or
// the server drops it. err is nil when the server dropped it.
func slowConn(ctx context.Context, addr, tok string, body bool) (time.Duration, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	start := time.Now()
	var head string
	if body {
		head = "POST /api/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"content\": \""
		if _, err := io.WriteString(conn, head); err != nil {
			return 0, err
		}
	} else if _, err := io.WriteString(conn, "GET /api/health HTTP/1.1\r\nHost: x\r\n"); err != nil {
		return 0, err
	}
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, conn) // returns when the server closes or answers and closes
		close(closed)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-closed:
			return time.Since(start), nil
		case <-tick.C:
			b := "x"
			if !body {
				b = "X-Slow-Header-Name-That-Never-Ends"[:1]
			}
			if _, err := io.WriteString(conn, b); err != nil {
				<-closed
				return time.Since(start), nil
			}
		}
	}
}

// endless sends a create whose body never completes: declared larger than
// the limit, or chunked and never ending. It returns the status the server
// answered with and when.
func endless(addr, tok, head string, chunked bool) (int, time.Duration, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /api/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+
		"\r\nContent-Type: application/json\r\n"+head+"\r\n"); err != nil {
		return 0, 0, err
	}
	if chunked {
		go func() {
			io.WriteString(conn, "10000\r\n{\"content\": \""+strings.Repeat("a", 0x10000-13)+"\r\n")
			chunk := fmt.Sprintf("10000\r\n%s\r\n", strings.Repeat("a", 0x10000))
			for time.Since(start) < 15*time.Second {
				if _, err := io.WriteString(conn, chunk); err != nil {
					return
				}
			}
		}()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, time.Since(start), err
	}
	resp.Body.Close()
	return resp.StatusCode, time.Since(start), nil
}
