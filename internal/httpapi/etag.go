package httpapi

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strings"
)

// openAPIDocument is the OpenAPI 3.1 description of this package's routes.
// A test validates the requests and responses of the API's own suite
// against it, so it cannot drift from what the handlers do.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document GET /api/openapi.json serves.
func OpenAPI() []byte { return append([]byte(nil), openAPIDocument...) }

// openAPITag is the document's ETag, computed once.
var openAPITag = etag(openAPIDocument)

// openapi serves GET /api/openapi.json. The document changes only with a
// new build, so clients may keep it and revalidate.
func (a *api) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("ETag", openAPITag)
	w.Header().Set("Cache-Control", "no-cache")
	if notModified(r, openAPITag) {
		writeNotModified(w)
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
	return nil
}

// etag is a strong entity tag for body: a hash of the exact bytes, so two
// representations share a tag only when they are byte for byte the same
// (RFC 9110 §8.8.1). Hashing the body rather than a few fields (run,
// status, updated_at) keeps it true whatever the representation comes to
// include.
func etag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// notModified reports whether r's If-None-Match names tag (or is "*"). It
// uses the weak comparison RFC 9110 §13.1.2 prescribes for If-None-Match:
// "W/" prefixes are ignored.
func notModified(r *http.Request, tag string) bool {
	for _, line := range r.Header.Values("If-None-Match") {
		for _, t := range strings.Split(line, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == tag {
				return true
			}
		}
	}
	return false
}

// writeNotModified answers 304: no body, and the headers already set (ETag,
// Cache-Control) stand.
func writeNotModified(w http.ResponseWriter) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotModified)
}
