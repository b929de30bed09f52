package web_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"recall/internal/boltstore"
	"recall/internal/extract"
	"recall/internal/httpapi"
	"recall/internal/memq"
	"recall/internal/recall"
	"recall/internal/web"
)

// fakeOIDC is a tiny OpenID Connect provider: discovery, an authorize
// endpoint that signs "dana" in at once and redirects back with a code,
// and a token endpoint that checks the PKCE verifier against the
// challenge. A real provider cannot be reached from the tests.
type fakeOIDC struct {
	t        *testing.T
	srv      *httptest.Server
	clientID string
	mu       sync.Mutex
	codes    map[string]authRequest
	tokens   map[string]string // access token → subject
	issued   []string
	// tokenURL is the token endpoint discovery names: on the issuer's
	// origin, or on another one after tokenElsewhere (as Cognito's is).
	tokenURL   string
	authorized int // authorize requests seen
}

type authRequest struct{ challenge, redirect string }

func newFakeOIDC(t *testing.T, clientID string) *fakeOIDC {
	f := &fakeOIDC{t: t, clientID: clientID, codes: map[string]authRequest{}, tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		f.mu.Lock()
		tokenURL := f.tokenURL
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                           f.srv.URL,
			"authorization_endpoint":           f.srv.URL + "/authorize",
			"token_endpoint":                   tokenURL,
			"code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
			q.Get("code_challenge") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") {
			t.Errorf("authorize request: %v", q)
			http.Error(w, "bad request", 400)
			return
		}
		code := rand.Text()
		f.mu.Lock()
		f.authorized++
		f.codes[code] = authRequest{challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
		f.mu.Unlock()
		back, _ := url.Parse(q.Get("redirect_uri"))
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("/token", f.token)
	f.srv = httptest.NewServer(mux)
	f.tokenURL = f.srv.URL + "/token"
	t.Cleanup(f.srv.Close)
	return f
}

// tokenElsewhere moves the token endpoint to a server of its own, on
// another origin than the issuer, as Cognito's hosted domain is; it
// returns the endpoint's URL.
func (f *fakeOIDC) tokenElsewhere() string {
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/token", f.token)
	srv := httptest.NewServer(mux)
	f.t.Cleanup(srv.Close)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenURL = srv.URL + "/oauth2/token"
	return f.tokenURL
}

// token is the token endpoint: it checks the code, the client, the
// redirect URI and the PKCE verifier, and issues an access token.
func (f *fakeOIDC) token(w http.ResponseWriter, r *http.Request) {
	t, clientID := f.t, f.clientID
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
	if r.Method == http.MethodOptions {
		return
	}
	_ = r.ParseForm()
	f.mu.Lock()
	req, ok := f.codes[r.PostForm.Get("code")]
	delete(f.codes, r.PostForm.Get("code"))
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case !ok, r.PostForm.Get("grant_type") != "authorization_code", r.PostForm.Get("client_id") != clientID,
		r.PostForm.Get("redirect_uri") != req.redirect:
		t.Errorf("token request: %v", r.PostForm)
		w.WriteHeader(400)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != req.challenge:
		t.Errorf("PKCE: the verifier does not match the challenge")
		w.WriteHeader(400)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
		return
	}
	access := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"dana","client_id":"`+clientID+`"}`)) + "." + rand.Text()
	f.mu.Lock()
	f.tokens[access] = "dana"
	f.issued = append(f.issued, access)
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": access, "id_token": "eyJhbGciOiJub25lIn0.e30.id", "token_type": "Bearer", "expires_in": 3600,
	})
}

// Authenticate plays API Gateway's JWT authorizer: it accepts exactly the
// access tokens this provider issued.
func (f *fakeOIDC) Authenticate(r *http.Request) (string, error) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	if sub, ok := f.tokens[tok]; ok {
		return sub, nil
	}
	return "", recall.Errorf(recall.EUNAUTHORIZED, "token not issued by the provider")
}

// oidcSite serves the real handlers in-process, behind the contract check,
// with the web app configured as cfg and idp as the API's authorizer. The
// service holds one conversation of dana's, the fake provider's user.
func oidcSite(t *testing.T, idp *fakeOIDC, cfg web.Config) *httptest.Server {
	t.Helper()
	store, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	queue := memq.New(memq.Options{})
	t.Cleanup(func() { queue.Close() })
	svc := recall.NewService(recall.Config{Logger: slog.New(slog.DiscardHandler), Store: store, Queue: queue,
		Analyzer: extract.New(extract.Options{}), CursorKey: []byte("k")})
	if _, _, err := svc.Create(t.Context(), "dana", recall.CreateRequest{Title: "Dana's notes", Content: "Dana will ship it."}, ""); err != nil {
		t.Fatal(err)
	}
	app, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.Routes(svc, httpapi.Options{Auth: idp, Web: app})
	p := newProxy(t, "")
	site := httptest.NewServer(p.checker.Handler(api, func(err error) { t.Error(err) }))
	t.Cleanup(site.Close)
	return site
}

// Signing in on AWS: the authorization code flow with PKCE against the
// configured issuer, then the API called with the provider's access token.
// The real handlers run in-process, behind the same contract check.
func TestOIDCSignIn(t *testing.T) {
	b := openTab(t)
	const clientID = "recall-web-client"
	idp := newFakeOIDC(t, clientID)
	site := oidcSite(t, idp, web.Config{Auth: web.AuthOIDC, Issuer: idp.srv.URL, ClientID: clientID, Scopes: []string{"openid", "email"}})

	b.do(chromedp.Navigate(site.URL + "/#/"))
	b.waitFor("the sign-in button", `document.querySelector("main button.primary")`, 10*time.Second)
	if got := b.text("main"); !strings.Contains(got, strings.TrimPrefix(idp.srv.URL, "http://")) {
		t.Errorf("sign-in view does not name the provider: %q", got)
	}
	b.axe("OIDC sign-in")
	b.shots("signin-oidc")
	b.do(chromedp.Click(chromedp.CSS("main button.primary")))
	b.waitFor("the list", `document.querySelector('#conversations[aria-busy="false"] .conversation')`, 10*time.Second)
	if got := b.text(".conversation a.title"); got != "Dana's notes" {
		t.Errorf("signed in as someone else? first title %q", got)
	}
	if loc := js[string](b, "location.href"); loc != site.URL+"/#/" {
		t.Errorf("the code stayed in the address: %q", loc)
	}
	idp.mu.Lock()
	issued := idp.issued
	idp.mu.Unlock()
	if len(issued) != 1 {
		t.Fatalf("%d tokens issued", len(issued))
	}
	if got := js[string](b, `JSON.parse(sessionStorage.getItem("recall.token"))`); got != issued[0] {
		t.Errorf("the page keeps %q, not the access token", got)
	}
	if js[string](b, `sessionStorage.getItem("recall.oidc") ?? ""`) != "" {
		t.Errorf("the PKCE verifier outlived the sign-in")
	}
}

// A token endpoint on another origin than the issuer, as Cognito's hosted
// domain is: the page's Content-Security-Policy (which the browser enforces
// here) must name it for the code exchange to go through, and when the
// deployment does not name it the page says so before sending anyone to
// sign in, instead of failing after they have.
func TestOIDCTokenEndpointElsewhere(t *testing.T) {
	const clientID = "recall-web-client"
	t.Run("named", func(t *testing.T) {
		b := openTab(t)
		idp := newFakeOIDC(t, clientID)
		tokenURL := idp.tokenElsewhere()
		site := oidcSite(t, idp, web.Config{Auth: web.AuthOIDC, Issuer: idp.srv.URL, ClientID: clientID, TokenEndpoint: tokenURL})
		b.do(chromedp.Navigate(site.URL + "/#/"))
		b.waitFor("the sign-in button", `document.querySelector("main button.primary")`, 10*time.Second)
		b.do(chromedp.Click(chromedp.CSS("main button.primary")))
		b.waitFor("the list", `document.querySelector('#conversations[aria-busy="false"] .conversation')`, 10*time.Second)
		idp.mu.Lock()
		defer idp.mu.Unlock()
		if len(idp.issued) != 1 {
			t.Errorf("%d tokens issued by %s; want the one exchange", len(idp.issued), tokenURL)
		}
	})
	t.Run("not named", func(t *testing.T) {
		b := openTab(t)
		idp := newFakeOIDC(t, clientID)
		tokenURL := idp.tokenElsewhere()
		site := oidcSite(t, idp, web.Config{Auth: web.AuthOIDC, Issuer: idp.srv.URL, ClientID: clientID})
		b.do(chromedp.Navigate(site.URL + "/#/"))
		b.waitFor("the sign-in button", `document.querySelector("main button.primary")`, 10*time.Second)
		b.do(chromedp.Click(chromedp.CSS("main button.primary")))
		b.waitFor("the error", `document.querySelector("main p.error:not([hidden])")`, 10*time.Second)
		if got := b.text("main p.error"); !strings.Contains(got, tokenURL) || !strings.Contains(got, "token endpoint") {
			t.Errorf("error %q; want it to name the token endpoint %s", got, tokenURL)
		}
		if loc := js[string](b, "location.href"); loc != site.URL+"/#/" {
			t.Errorf("the page left for %q", loc)
		}
		idp.mu.Lock()
		defer idp.mu.Unlock()
		if idp.authorized != 0 {
			t.Errorf("the person was sent to sign in (%d authorize requests), though the code could never be exchanged", idp.authorized)
		}
	})
}

func TestOIDCConfigAndCSP(t *testing.T) {
	t.Parallel()
	h, err := web.New(web.Config{Auth: web.AuthOIDC, Issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
		ClientID: "abc123", TokenEndpoint: "https://recall.auth.eu-west-1.amazoncognito.com/oauth2/token"})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/config.json", nil))
	var cfg map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["auth"] != "oidc" || cfg["issuer"] != "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC" || cfg["client_id"] != "abc123" || cfg["token_use"] != "access" ||
		cfg["token_endpoint"] != "https://recall.auth.eu-west-1.amazoncognito.com/oauth2/token" {
		t.Errorf("config.json: %s", w.Body)
	}
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com https://recall.auth.eu-west-1.amazoncognito.com;") {
		t.Errorf("CSP: %s", csp)
	}
}
