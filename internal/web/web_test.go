package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"recall/internal/web"
)

func get(h http.Handler, target string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func localHandler(t *testing.T) *web.Handler {
	t.Helper()
	h, err := web.New(web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Every answer carries the security headers; the page loads only hashed
// assets of its own origin and has no inline script.
func TestPageAndHeaders(t *testing.T) {
	t.Parallel()
	h := localHandler(t)
	w := get(h, "/")
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/html; charset=utf-8" || w.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("page: %d %v", w.Code, w.Header())
	}
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
	}
	for _, target := range []string{"/", "/config.json", h.AssetPrefix() + "js/main.js", "/assets/old/js/main.js"} {
		w := get(h, target)
		for k, v := range want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", target, k, got, v)
			}
		}
	}
	page := w.Body.String()
	if regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`).MatchString(page) || strings.Contains(page, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(page) {
		t.Errorf("inline script or handler in the page:\n%s", page)
	}
	refs := regexp.MustCompile(`(?:href|src)="(/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 4 {
		t.Fatalf("the page references %d assets", len(refs))
	}
	for _, m := range refs {
		if !strings.HasPrefix(m[1], h.AssetPrefix()) {
			t.Errorf("reference %q is not a hashed asset", m[1])
			continue
		}
		if w := get(h, m[1]); w.Code != 200 {
			t.Errorf("%s: %d", m[1], w.Code)
		}
	}
	if w := get(h, "/config.json"); w.Body.String() != `{"auth":"local"}`+"\n" || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("config.json: %q", w.Body)
	}
}

func TestAssetCaching(t *testing.T) {
	t.Parallel()
	h := localHandler(t)
	if !regexp.MustCompile(`^/assets/[0-9a-f]{16}/$`).MatchString(h.AssetPrefix()) {
		t.Fatalf("prefix %q", h.AssetPrefix())
	}
	tests := []struct {
		target, status, cache, ctype string
	}{
		{h.AssetPrefix() + "js/main.js", "200", "public, max-age=31536000, immutable", "text/javascript; charset=utf-8"},
		{h.AssetPrefix() + "app.css", "200", "public, max-age=31536000, immutable", "text/css; charset=utf-8"},
		{h.AssetPrefix() + "icon.svg", "200", "public, max-age=31536000, immutable", "image/svg+xml"},
		{h.AssetPrefix() + "index.html", "404", "", ""},
		{h.AssetPrefix() + "js/nope.js", "404", "", ""},
		{"/assets/0000000000000000/js/main.js", "404", "no-store", ""},
		{"/", "200", "no-cache", "text/html; charset=utf-8"},
		{"/config.json", "200", "no-cache", "application/json"},
	}
	for _, tc := range tests {
		w := get(h, tc.target)
		if got := http.StatusText(w.Code); w.Code != atoi(tc.status) {
			t.Errorf("%s: %d %s", tc.target, w.Code, got)
			continue
		}
		if tc.cache != "" && w.Header().Get("Cache-Control") != tc.cache {
			t.Errorf("%s: Cache-Control %q, want %q", tc.target, w.Header().Get("Cache-Control"), tc.cache)
		}
		if tc.ctype != "" && w.Header().Get("Content-Type") != tc.ctype {
			t.Errorf("%s: Content-Type %q", tc.target, w.Header().Get("Content-Type"))
		}
		if w.Code == 200 {
			tag := w.Header().Get("ETag")
			if r := get(h, tc.target, "If-None-Match", tag); r.Code != http.StatusNotModified || r.Body.Len() != 0 {
				t.Errorf("%s revalidated: %d", tc.target, r.Code)
			}
		}
	}
	// Compressed when the browser accepts it, identical once unpacked.
	plain := get(h, h.AssetPrefix()+"js/views/list.js")
	gz := get(h, h.AssetPrefix()+"js/views/list.js", "Accept-Encoding", "gzip, br")
	if gz.Header().Get("Content-Encoding") != "gzip" || plain.Header().Get("Content-Encoding") != "" || gz.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("encodings: %q / %q", gz.Header().Get("Content-Encoding"), plain.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	unpacked, _ := io.ReadAll(zr)
	if !bytes.Equal(unpacked, plain.Body.Bytes()) || gz.Body.Len() >= plain.Body.Len() {
		t.Errorf("gzip body differs or is not smaller (%d vs %d)", gz.Body.Len(), plain.Body.Len())
	}
	if w := get(h, h.AssetPrefix()+"app.css", "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzip sent although refused")
	}
	r := httptest.NewRequest("POST", "/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", w.Code)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  web.Config
	}{
		{"unknown mode", web.Config{Auth: "saml"}},
		{"no issuer", web.Config{Auth: web.AuthOIDC, ClientID: "c"}},
		{"http issuer", web.Config{Auth: web.AuthOIDC, Issuer: "http://idp.example.com", ClientID: "c"}},
		{"issuer with a quote", web.Config{Auth: web.AuthOIDC, Issuer: "https://idp.example.com/'unsafe-eval'", ClientID: "c"}},
		{"issuer with a space", web.Config{Auth: web.AuthOIDC, Issuer: "https://idp.example.com *", ClientID: "c"}},
		{"no client", web.Config{Auth: web.AuthOIDC, Issuer: "https://idp.example.com"}},
		{"bad token endpoint", web.Config{Auth: web.AuthOIDC, Issuer: "https://idp.example.com", ClientID: "c", TokenEndpoint: "ftp://x"}},
		{"relative redirect", web.Config{Auth: web.AuthOIDC, Issuer: "https://idp.example.com", ClientID: "c", RedirectURI: "/back"}},
		{"bad token use", web.Config{Auth: web.AuthOIDC, Issuer: "https://idp.example.com", ClientID: "c", TokenUse: "refresh"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := web.New(tc.cfg); err == nil {
				t.Errorf("accepted %+v", tc.cfg)
			}
		})
	}
	if _, err := web.New(web.Config{Auth: web.AuthOIDC, Issuer: "http://127.0.0.1:9999", ClientID: "c"}); err != nil {
		t.Errorf("loopback http issuer (a test's provider): %v", err)
	}
}

// No script of the app writes HTML: user content reaches the page only as
// text (dom.js's h() and textContent). A cheap guard beside the browser
// test that renders hostile content.
func TestNoHTMLSinks(t *testing.T) {
	t.Parallel()
	sinks := regexp.MustCompile(`\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval|Function)\s*[(=]|\bsetTimeout\(\s*['"]`)
	err := filepath.WalkDir(filepath.Join("static", "js"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if sinks.MatchString(line) {
				t.Errorf("%s:%d writes HTML or evaluates code: %s", p, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Page weight: everything a first visit loads, gzipped, within 60 KB.
func TestPageWeight(t *testing.T) {
	t.Parallel()
	raw, gz := weight(t, localHandler(t))
	t.Logf("page weight: %d bytes, %d gzipped", raw, gz)
	if gz > 60<<10 {
		t.Errorf("the page weighs %d bytes gzipped; the budget is 61440", gz)
	}
}

// weight sums what a first visit loads (the page and every asset).
func weight(t testing.TB, h *web.Handler) (raw, gz int) {
	t.Helper()
	page := get(h, "/")
	targets := []string{"/", "/config.json"}
	for _, m := range regexp.MustCompile(`(?:href|src)="(/[^"]+)"`).FindAllStringSubmatch(page.Body.String(), -1) {
		targets = append(targets, m[1])
	}
	for _, target := range targets {
		raw += get(h, target).Body.Len()
		gz += get(h, target, "Accept-Encoding", "gzip").Body.Len()
	}
	return raw, gz
}

func BenchmarkPageWeight(b *testing.B) {
	h, err := web.New(web.Config{})
	if err != nil {
		b.Fatal(err)
	}
	var raw, gz int
	for b.Loop() {
		raw, gz = weight(b, h)
	}
	b.ReportMetric(float64(raw), "bytes")
	b.ReportMetric(float64(gz), "gzip-bytes")
}
