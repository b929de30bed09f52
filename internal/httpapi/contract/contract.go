// Package contract checks real HTTP exchanges against Recall's OpenAPI
// document (httpapi.OpenAPI), so the document stays true: the API's test
// suite and the web app's browser tests run every request and response
// they make through a Checker. It is a test helper that lives outside the
// _test files because two packages' tests share it; no binary links it.
package contract

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"github.com/pb33f/libopenapi-validator/errors"

	"recall/internal/httpapi"
)

// Checker validates exchanges against the document. It is safe for
// concurrent use.
type Checker struct {
	mu     sync.Mutex // the validator's caches are not documented as safe
	v      validator.Validator
	routes []route
}

// route is one path of the document with the methods it describes.
type route struct {
	re      *regexp.Regexp
	methods map[string]bool
}

// New parses the document, checks it against the OpenAPI 3.1 schema, and
// returns a Checker for it.
func New() (*Checker, error) {
	raw := httpapi.OpenAPI()
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		return nil, fmt.Errorf("contract: parse the OpenAPI document: %w", err)
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("contract: build the validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("contract: the OpenAPI document is invalid: %s", describe(verrs))
	}
	var paths struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &paths); err != nil {
		return nil, fmt.Errorf("contract: read the document's paths: %w", err)
	}
	c := &Checker{v: v}
	param := regexp.MustCompile(`\\\{[^}]+\\\}`)
	for p, ops := range paths.Paths {
		rt := route{re: regexp.MustCompile("^" + param.ReplaceAllString(regexp.QuoteMeta(p), "[^/]+") + "$"), methods: map[string]bool{}}
		for m := range ops {
			rt.methods[strings.ToUpper(m)] = true
		}
		c.routes = append(c.routes, rt)
	}
	return c, nil
}

// Check validates one exchange: reqBody is the body the client sent, and
// resp's body must be readable (it is read and replaced).
//
//   - A response to an operation the document describes must match it:
//     status, headers and body.
//   - A request that succeeded (status below 400) must match the document
//     too; a refused one is by nature outside it, and only its answer is
//     checked. The API reads any body as JSON (a missing or form
//     Content-Type included, for curl), so the request is checked as JSON.
//   - A request for a path or method the document does not describe must
//     get a JSON 404 or 405 in the shape of the document's Error.
//   - The web app's page and assets (not JSON) are not part of the
//     contract and pass.
//   - A gzipped response (the web app's handler compresses /config.json
//     for a client that takes gzip) is checked as the client reads it.
func (c *Checker) Check(req *http.Request, reqBody []byte, resp *http.Response) error {
	sent, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(sent))
	if err != nil {
		return fmt.Errorf("contract: read the response: %w", err)
	}
	respBody := sent
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(bytes.NewReader(sent))
		if err == nil {
			respBody, err = io.ReadAll(zr)
		}
		if err != nil {
			return fmt.Errorf("contract: %s %s: Content-Encoding gzip, but the body does not gunzip: %w", req.Method, req.URL.Path, err)
		}
	}
	p := req.URL.Path
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "/" || strings.HasPrefix(p, "/assets/") || req.Method == http.MethodHead || req.Method == http.MethodOptions {
		return nil
	}
	described := false
	for _, rt := range c.routes {
		if rt.re.MatchString(p) && rt.methods[req.Method] {
			described = true
		}
	}
	if !described {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			return fmt.Errorf("contract: %s %s is not in the OpenAPI document but answered %d", req.Method, req.URL.Path, resp.StatusCode)
		}
		return errorShape(respBody)
	}

	r := req.Clone(req.Context())
	r.URL.Path = p
	r.URL.RawPath = ""
	r.RequestURI = ""
	if len(reqBody) > 0 {
		r.Header.Set("Content-Type", "application/json")
	}
	var problems []*errors.ValidationError
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp.StatusCode < 400 {
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		if ok, errs := c.v.ValidateHttpRequestSync(r); !ok {
			problems = append(problems, errs...)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	check := *resp
	check.Header = resp.Header.Clone()
	check.Header.Del("Content-Encoding")
	check.Body = io.NopCloser(bytes.NewReader(respBody))
	if ok, errs := c.v.ValidateHttpResponse(r, &check); !ok {
		problems = append(problems, errs...)
	}
	if len(problems) > 0 {
		return fmt.Errorf("contract: %s %s → %d breaks the OpenAPI document: %s\nresponse: %.300s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, describe(problems), respBody)
	}
	return nil
}

// errorShape checks body is exactly the document's Error.
func errorShape(body []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		return fmt.Errorf("contract: an answer outside the document is not an Error: %.200s", body)
	}
	return nil
}

// Handler wraps h so that every exchange it serves is checked; a violation
// goes to report (t.Error in a test).
func (c *Checker) Handler(h http.Handler, report func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		original := r.Clone(r.Context())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		resp := rec.Result()
		if err := c.Check(original, body, resp); err != nil {
			report(err)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

func describe(errs []*errors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s", e.Message)
		if e.Reason != "" {
			fmt.Fprintf(&b, ": %s", e.Reason)
		}
		for _, se := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s: %s", se.FieldPath, se.Reason)
		}
	}
	return b.String()
}
