// Package web serves Recall's web app: a page, its scripts and styles
// (embedded in the binary, so Recall serves its own front end with no
// build step and no other origin), and /config.json, which tells the page
// how people sign in. httpapi routes GET /, GET /assets/{proxy+} and
// GET /config.json here (Options.Web); this package knows nothing of the
// API beyond the paths the page calls.
//
// Caching: asset URLs carry a hash of every embedded asset
// ("/assets/<hash>/js/main.js"), computed at start, so they are cached for
// a year as immutable and a new build is new URLs; the page and
// /config.json are revalidated on every load (no-cache, with an ETag). One
// hash for the whole set, rather than one per file, because the ES modules
// import each other by relative path: a directory that changes with any
// file keeps those imports right without rewriting them.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

//go:embed static
var static embed.FS

// Auth modes of Config.Auth.
const (
	AuthLocal = "local"
	AuthOIDC  = "oidc"
)

// Config says how the page signs people in. The zero value is local mode:
// sign-in links from `recall token --link`.
type Config struct {
	// Auth is AuthLocal ("" means the same) or AuthOIDC.
	Auth string
	// Issuer is the OpenID Connect issuer (OIDC mode); the page reads
	// ${Issuer}/.well-known/openid-configuration. https, or http on a
	// loopback host for tests.
	Issuer string
	// ClientID is the app client the page signs in as (OIDC mode).
	ClientID string
	// Scopes requested; ["openid"] when empty.
	Scopes []string
	// RedirectURI is where the provider sends the browser back; the page's
	// own origin + "/" when empty.
	RedirectURI string
	// TokenEndpoint is the provider's token endpoint when its origin is not
	// the issuer's (Cognito's is the user pool's domain), so the page's
	// Content-Security-Policy lets the page call it. It must be given here
	// rather than learnt from discovery: the policy is sent with the page,
	// before the page can read anything. The page checks that discovery
	// names an endpoint on an allowed origin before sending anyone to sign
	// in, so a mismatch shows up front instead of after the sign-in.
	TokenEndpoint string
	// TokenUse is which token the page sends as Bearer: "access" (the
	// default; Cognito's access token carries the app client in client_id,
	// which API Gateway's JWT authorizer accepts as the audience) or "id".
	TokenUse string
}

// publicConfig is /config.json: what the page needs, nothing more.
type publicConfig struct {
	Auth        string   `json:"auth"`
	Issuer      string   `json:"issuer,omitempty"`
	ClientID    string   `json:"client_id,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
	RedirectURI string   `json:"redirect_uri,omitempty"`
	TokenUse    string   `json:"token_use,omitempty"`
	// TokenEndpoint is Config.TokenEndpoint, so the page knows which
	// origin besides the issuer's its policy allows.
	TokenEndpoint string `json:"token_endpoint,omitempty"`
}

// Handler serves the page, the assets and /config.json.
type Handler struct {
	page     resource
	config   resource
	assets   map[string]resource // by path below /assets/<hash>/
	hash     string
	prefix   string // "/assets/<hash>/"
	security map[string]string
}

// resource is one response body, ready to send.
type resource struct {
	body, gz    []byte
	contentType string
	etag        string
}

// New checks cfg and prepares every response, so serving one is only a
// copy: the assets with the hash their URLs carry, the page that links to
// them, /config.json, and the security headers every response gets.
func New(cfg Config) (*Handler, error) {
	pub, connect, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	h := &Handler{assets: map[string]resource{}, security: securityHeaders(connect)}
	// One compressor for every response: each new one allocates about a
	// megabyte, which a Lambda cold start would pay per file.
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestCompression)
	files, err := assetFiles()
	if err != nil {
		return nil, err
	}
	if err := h.loadAssets(zw, files); err != nil {
		return nil, err
	}
	if err := h.renderPage(zw, files); err != nil {
		return nil, err
	}
	cj, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("web: encode config: %w", err)
	}
	h.config = newResource(zw, append(cj, '\n'), "application/json")
	return h, nil
}

// assetFiles lists the embedded assets (everything but the page), sorted,
// so the hash over them is the same for the same build.
func assetFiles() ([]string, error) {
	var files []string
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "static/index.html" {
			return err
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("web: list assets: %w", err)
	}
	slices.Sort(files)
	return files, nil
}

// loadAssets reads files into h.assets, ready to send, and sets the hash
// of the whole set and the URL prefix it makes (see the package doc for
// why one hash for all). Names and lengths go into the hash with the
// bytes, so moving content between files changes it too.
func (h *Handler) loadAssets(zw *gzip.Writer, files []string) error {
	sum := sha256.New()
	for _, p := range files {
		b, err := static.ReadFile(p)
		if err != nil {
			return fmt.Errorf("web: read %s: %w", p, err)
		}
		name := strings.TrimPrefix(p, "static/")
		fmt.Fprintf(sum, "%s\x00%d\x00", name, len(b))
		sum.Write(b)
		h.assets[name] = newResource(zw, b, contentType(name))
	}
	h.hash = hex.EncodeToString(sum.Sum(nil))[:16]
	h.prefix = "/assets/" + h.hash + "/"
	return nil
}

// contentType is the Content-Type of an asset by its extension, fixed for
// the types the app ships so it does not depend on the host's MIME table.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	return mime.TypeByExtension(path.Ext(name))
}

// renderPage renders the page with the hashed URLs of its stylesheet, icon
// and entry module, and a preload link for every other module. It needs
// h.prefix (loadAssets).
func (h *Handler) renderPage(zw *gzip.Writer, files []string) error {
	tmpl, err := template.ParseFS(static, "static/index.html")
	if err != nil {
		return fmt.Errorf("web: parse the page: %w", err)
	}
	var preload []string
	for _, p := range files {
		if name := strings.TrimPrefix(p, "static/"); strings.HasSuffix(name, ".js") && name != "js/main.js" {
			preload = append(preload, h.prefix+name)
		}
	}
	var page bytes.Buffer
	err = tmpl.Execute(&page, map[string]any{
		"CSS": h.prefix + "app.css", "Icon": h.prefix + "icon.svg", "Main": h.prefix + "js/main.js",
		// Every module is announced up front, so the browser fetches them
		// in parallel instead of discovering imports one level at a time.
		"Preload": preload,
	})
	if err != nil {
		return fmt.Errorf("web: render the page: %w", err)
	}
	h.page = newResource(zw, page.Bytes(), "text/html; charset=utf-8")
	return nil
}

// securityHeaders are set on every response: a Content-Security-Policy
// with no inline script, no eval and nothing from another origin except,
// in OIDC mode, the calls to the sign-in provider (connect), and the
// headers that keep the page out of frames and its referrer private.
func securityHeaders(connect []string) map[string]string {
	return map[string]string{
		"Content-Security-Policy": strings.Join([]string{
			"default-src 'self'",
			"script-src 'self'",
			"style-src 'self'",
			"img-src 'self'",
			"connect-src " + strings.Join(append([]string{"'self'"}, connect...), " "),
			"object-src 'none'",
			"base-uri 'none'",
			"form-action 'self'",
			"frame-ancestors 'none'",
		}, "; "),
		"X-Content-Type-Options":     "nosniff",
		"Referrer-Policy":            "no-referrer",
		"X-Frame-Options":            "DENY",
		"Cross-Origin-Opener-Policy": "same-origin",
	}
}

// resolve checks cfg and returns /config.json's content and the origins
// the page may call besides its own.
func (cfg Config) resolve() (publicConfig, []string, error) {
	switch cfg.Auth {
	case "", AuthLocal:
		return publicConfig{Auth: AuthLocal}, nil, nil
	case AuthOIDC:
	default:
		return publicConfig{}, nil, fmt.Errorf("web: auth mode %q: want %q or %q", cfg.Auth, AuthLocal, AuthOIDC)
	}
	issuer, err := providerURL("issuer", cfg.Issuer)
	if err != nil {
		return publicConfig{}, nil, err
	}
	if cfg.ClientID == "" {
		return publicConfig{}, nil, fmt.Errorf("web: OIDC sign-in needs a client id")
	}
	connect := []string{origin(issuer)}
	if cfg.TokenEndpoint != "" {
		te, err := providerURL("token endpoint", cfg.TokenEndpoint)
		if err != nil {
			return publicConfig{}, nil, err
		}
		if o := origin(te); o != connect[0] {
			connect = append(connect, o)
		}
	}
	if cfg.RedirectURI != "" {
		if u, err := url.Parse(cfg.RedirectURI); err != nil || !u.IsAbs() || u.Fragment != "" {
			return publicConfig{}, nil, fmt.Errorf("web: redirect URI %q: want an absolute URL without a fragment", cfg.RedirectURI)
		}
	}
	switch cfg.TokenUse {
	case "", "access", "id":
	default:
		return publicConfig{}, nil, fmt.Errorf("web: token use %q: want \"access\" or \"id\"", cfg.TokenUse)
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{"openid"}
	}
	tokenUse := cfg.TokenUse
	if tokenUse == "" {
		tokenUse = "access"
	}
	return publicConfig{
		Auth: AuthOIDC, Issuer: cfg.Issuer, ClientID: cfg.ClientID, Scopes: scopes,
		RedirectURI: cfg.RedirectURI, TokenUse: tokenUse, TokenEndpoint: cfg.TokenEndpoint,
	}, connect, nil
}

// providerURL accepts an https URL, or http on a loopback host (a test's
// fake provider), and nothing a CSP source could be confused by.
func providerURL(what, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || strings.ContainsAny(s, " ;,'\"") {
		return nil, fmt.Errorf("web: %s %q: want an absolute https URL", what, s)
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return u, nil
		}
	}
	return nil, fmt.Errorf("web: %s %q: want an https URL (http only on a loopback host)", what, s)
}

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

func newResource(zw *gzip.Writer, body []byte, contentType string) resource {
	r := resource{body: body, contentType: contentType}
	sum := sha256.Sum256(body)
	r.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	var gz bytes.Buffer
	zw.Reset(&gz)
	_, _ = zw.Write(body)
	_ = zw.Close()
	if gz.Len() < len(body) {
		r.gz = gz.Bytes()
	}
	return r
}

// AssetPrefix is the path every asset URL starts with, "/assets/<hash>/".
func (h *Handler) AssetPrefix() string { return h.prefix }

// ServeHTTP serves GET and HEAD of the page ("/"), /config.json and the
// assets; anything else is 404 (httpapi routes only those paths here).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	for k, v := range h.security {
		hd.Set(k, v)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == "/":
		h.send(w, r, h.page, "no-cache")
	case p == "/config.json":
		h.send(w, r, h.config, "no-cache")
	case strings.HasPrefix(p, h.prefix):
		res, ok := h.assets[strings.TrimPrefix(p, h.prefix)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		// The URL changes whenever any asset does, so what it names never
		// changes: browsers and caches may keep it for a year unasked.
		h.send(w, r, res, "public, max-age=31536000, immutable")
	default:
		// An asset of another build (or a made-up path): a page of that
		// build asks for its own assets, which this build does not have.
		hd.Set("Cache-Control", "no-store")
		http.NotFound(w, r)
	}
}

func (h *Handler) send(w http.ResponseWriter, r *http.Request, res resource, cacheControl string) {
	hd := w.Header()
	hd.Set("Cache-Control", cacheControl)
	hd.Set("ETag", res.etag)
	hd.Set("Vary", "Accept-Encoding")
	if inm := r.Header.Get("If-None-Match"); inm != "" && matches(inm, res.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := res.body
	if res.gz != nil && acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		body = res.gz
	}
	hd.Set("Content-Type", res.contentType)
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// matches is If-None-Match's weak comparison against tag.
func matches(inm, tag string) bool {
	for t := range strings.SplitSeq(inm, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == tag {
			return true
		}
	}
	return false
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
