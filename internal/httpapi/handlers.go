package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"recall/internal/recall"
)

// createBody is the JSON a client posts. Unknown fields are refused so a
// typo ("contents") fails loudly instead of creating an empty conversation.
// Each field stays raw JSON until request has checked it: encoding/json
// turns invalid UTF-8 into U+FFFD without a word, and a conversation must
// be stored as it was sent or refused.
type createBody struct {
	Content  json.RawMessage `json:"content"`
	PostType json.RawMessage `json:"post_type"`
	Title    json.RawMessage `json:"title"`
	Priority json.RawMessage `json:"priority"`
}

// request checks and decodes each field of b, naming the field at fault.
func (b createBody) request() (recall.CreateRequest, error) {
	var req recall.CreateRequest
	var priority string
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *string
	}{
		{"content", b.Content, &req.Content}, {"post_type", b.PostType, &req.PostType},
		{"title", b.Title, &req.Title}, {"priority", b.Priority, &priority},
	} {
		if err := decodeString(f.name, f.raw, f.dst); err != nil {
			return req, err
		}
	}
	req.Priority = recall.Priority(priority)
	return req, nil
}

// decodeString decodes raw, the value of field name, into dst (null and
// absent leave it empty). A value that is not valid Unicode, as invalid
// UTF-8 or as an escaped surrogate without its pair, is refused rather
// than stored with U+FFFD in its place.
func decodeString(name string, raw json.RawMessage, dst *string) error {
	if len(raw) == 0 {
		return nil
	}
	if at := invalidUnicodeAt(raw); at >= 0 {
		return recall.Errorf(recall.EINVALID, "Field %q is not valid UTF-8 text (at byte %d of its value); send it encoded as UTF-8.", name, at)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return recall.Errorf(recall.EINVALID, "Field %q must be a %s, not %s.", name, typ.Type, typ.Value)
		}
		return recall.Wrap(err, recall.EINVALID, fmt.Sprintf("Field %q could not be read.", name))
	}
	return nil
}

// invalidUnicodeAt returns the offset in raw, a JSON value the decoder has
// already found well-formed, of the first byte that is not valid UTF-8 or
// the first \u escape of a surrogate without its pair; -1 when there is
// none.
func invalidUnicodeAt(raw []byte) int {
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '\\' && i+5 < len(raw) && raw[i+1] == 'u':
			r := hex4(raw[i+2 : i+6])
			if !utf16.IsSurrogate(r) {
				i += 6
				continue
			}
			if r < 0xdc00 && i+11 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				if lo := hex4(raw[i+8 : i+12]); lo >= 0xdc00 && lo <= 0xdfff {
					i += 12
					continue
				}
			}
			return i
		case c == '\\':
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 {
				return i
			}
			i += n
		}
	}
	return -1
}

// hex4 reads the four hex digits of a \u escape (-1 if they are not).
func hex4(b []byte) rune {
	n, err := strconv.ParseUint(string(b), 16, 32)
	if err != nil {
		return -1
	}
	return rune(n)
}

// create serves POST /api/conversations. The per-owner limits come
// first, so a client over them is refused before its body is read.
func (a *api) create(w http.ResponseWriter, r *http.Request) error {
	if err := a.svc.Admit(r.Context(), owner(r)); err != nil {
		return err
	}
	if err := checkContentType(r); err != nil {
		return err
	}
	var body createBody
	if err := decodeJSON(r, &body, a.opts.MaxBodyBytes); err != nil {
		return err
	}
	req, err := body.request()
	if err != nil {
		return err
	}
	// Header values are joined back: a key may itself contain commas, and
	// some proxies (the Lambda adapter among them) split on them.
	key := strings.Join(r.Header.Values("Idempotency-Key"), ",")
	c, replayed, err := a.svc.Create(r.Context(), owner(r), req, key)
	if err != nil {
		return err
	}
	setConversation(r, c.ID)
	w.Header().Set("Location", "/api/conversations/"+c.ID)
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusCreated, View(c))
	return nil
}

// get serves GET /api/conversations/{id}. It answers with an ETag and
// honours If-None-Match with 304, so a client polling for the analysis to
// arrive costs one small answer per poll while nothing changes.
func (a *api) get(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	setConversation(r, id)
	c, err := a.svc.Get(r.Context(), owner(r), id)
	if err != nil {
		return err
	}
	body, err := marshal(View(c))
	if err != nil {
		return fmt.Errorf("httpapi: encode %s: %w", id, err)
	}
	tag := etag(body)
	w.Header().Set("ETag", tag)
	if notModified(r, tag) {
		w.Header().Set("Cache-Control", "no-store")
		writeNotModified(w)
		return nil
	}
	writeRaw(w, http.StatusOK, body)
	return nil
}

// reprocess serves POST /api/conversations/{id}/reprocess: the new run is
// queued, so the answer is 202 with the conversation back in pending.
func (a *api) reprocess(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	setConversation(r, id)
	if err := a.svc.Admit(r.Context(), owner(r)); err != nil {
		return err
	}
	c, err := a.svc.Reprocess(r.Context(), owner(r), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, View(c))
	return nil
}

// list serves GET /api/conversations?limit=&cursor=. Items carry a preview
// of their content (ListView), and the page is cut where it would outgrow
// MaxListBytes, as it is encoded, with a cursor to the rest: one read of
// the store and one encoding of each item (pageBody), whatever the
// conversations hold.
func (a *api) list(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := listQuery(r)
	if err != nil {
		return err
	}
	page, err := a.svc.List(r.Context(), owner(r), limit, cursor)
	if err != nil {
		return err
	}
	items := make([][]byte, 0, len(page.Items))
	size := listEnvelopeBytes
	for _, c := range page.Items {
		b, err := marshal(ListView(c))
		if err != nil {
			return fmt.Errorf("httpapi: encode %s: %w", c.ID, err)
		}
		// Lambda cannot return more than 6 MB; the first item always goes,
		// so a client always moves forward.
		if len(items) > 0 && size+len(b) > a.opts.MaxListBytes {
			page = page.Cut(len(items))
			break
		}
		size += len(b)
		items = append(items, b)
	}
	body, err := pageBody(items, page.NextCursor)
	if err != nil {
		return err
	}
	writeRaw(w, http.StatusOK, body)
	return nil
}

// pageBody is the answer of a page (ConversationList, SearchList) put
// together from its items as marshal encoded them, byte for byte what
// marshal makes of the whole page: the handlers encode each item to
// measure it, and so encode none twice.
func pageBody(items [][]byte, next string) ([]byte, error) {
	cursor := []byte("null")
	if next != "" {
		var err error
		if cursor, err = marshal(next); err != nil {
			return nil, fmt.Errorf("httpapi: encode cursor: %w", err)
		}
	}
	size := len(`{"items":[],"next_cursor":}`+"\n") + len(cursor)
	for _, b := range items {
		size += len(b)
	}
	body := make([]byte, 0, size)
	body = append(body, `{"items":[`...)
	for i, b := range items {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, bytes.TrimSuffix(b, []byte("\n"))...)
	}
	body = append(body, `],"next_cursor":`...)
	body = append(body, bytes.TrimSuffix(cursor, []byte("\n"))...)
	return append(body, "}\n"...), nil
}

// listEnvelopeBytes bounds what a list answer adds to its items: the
// braces, the field names and a cursor (a ULID and a 16-byte MAC in
// base64, 56 characters).
const listEnvelopeBytes = 128

// listQuery reads the list's limit and cursor.
func listQuery(r *http.Request) (limit int, cursor string, err error) {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, "", err
	}
	if limit, err = limitParam(q, recall.DefaultPageSize, recall.MaxPageSize); err != nil {
		return 0, "", err
	}
	return limit, q.Get("cursor"), nil
}

// parseQuery parses a request's query string, naming what is malformed.
func parseQuery(raw string) (url.Values, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, recall.Errorf(recall.EINVALID, "The query string is malformed: %s.", recall.Truncate(err.Error(), 100))
	}
	return q, nil
}

// limitParam reads q's limit: def when it is absent, else an integer from
// 1 to most, refused by name when it is not. The listings and the search
// each bound their pages this one way.
func limitParam(q url.Values, def, most int) (int, error) {
	if !q.Has("limit") {
		return def, nil
	}
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil || n < 1 || n > most {
		return 0, recall.Errorf(recall.EINVALID, "limit must be an integer from 1 to %d, not %q.", most, recall.Truncate(q.Get("limit"), 20))
	}
	return n, nil
}

// health serves GET /api/health, which needs no credentials. A failing
// component shows a short status (unavailable, misconfigured, throttled);
// its cause, which may name a model, a region, a host or an IAM policy, is
// logged by the service and never shown.
func (a *api) health(w http.ResponseWriter, r *http.Request) error {
	h := a.svc.Health(r.Context())
	out := HealthReport{Status: "healthy", Components: make(map[string]string, len(h.Components))}
	status := http.StatusOK
	if !h.Healthy {
		out.Status = "unhealthy"
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", RetryAfterSeconds)
	}
	for name, state := range h.Components {
		out.Components[name] = state
	}
	writeJSON(w, status, out)
	return nil
}

// checkContentType accepts a body in JSON: declared as application/json,
// undeclared, or declared as form-encoded (curl -d's default, so
// `curl -d '{...}'` works). Anything else, a charset other than UTF-8, or a
// compressed body is 415.
func checkContentType(r *http.Request) error {
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return recall.Errorf(recall.EMEDIA, "Content-Encoding %q is not supported; send the body uncompressed.", recall.Truncate(ce, 40))
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return recall.Errorf(recall.EMEDIA, "Content-Type %q could not be parsed; send application/json.", recall.Truncate(ct, 60))
	}
	if mt != "application/json" && mt != "application/x-www-form-urlencoded" {
		return recall.Errorf(recall.EMEDIA, "Content-Type %s is not supported; send application/json.", recall.Truncate(mt, 60))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return recall.Errorf(recall.EMEDIA, "charset %q is not supported; send UTF-8.", recall.Truncate(cs, 40))
	}
	return nil
}

// decodeJSON reads exactly one JSON object from r's body into v, turning
// every way that can fail into an error that names the field or the byte
// offset at fault.
func decodeJSON(r *http.Request, v any, limit int64) error {
	if r.ContentLength > limit {
		return tooLarge(limit)
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, dec, limit)
	}
	end := dec.InputOffset()
	switch _, err := dec.Token(); {
	case err == io.EOF:
		return nil
	case isMaxBytes(err):
		return tooLarge(limit)
	default:
		return recall.Errorf(recall.EINVALID, "The request body has data after the JSON object, which ends at byte offset %d; send a single object.", end)
	}
}

func jsonError(err error, dec *json.Decoder, limit int64) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case isMaxBytes(err):
		return tooLarge(limit)
	case errors.Is(err, io.EOF):
		return recall.Errorf(recall.EINVALID, `The request body is empty; send a JSON object such as {"content": "..."}.`)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return recall.Errorf(recall.EINVALID, "The request body ends inside the JSON object, at byte offset %d.", dec.InputOffset())
	case errors.As(err, &syn):
		// Offset counts the bytes read, the bad one included; report the
		// bad byte's own (0-based) position.
		return recall.Errorf(recall.EINVALID, "The request body is not valid JSON: %s at byte offset %d.", strings.TrimPrefix(syn.Error(), "json: "), max(syn.Offset-1, 0))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return recall.Errorf(recall.EINVALID, "The request body must be a JSON object, not %s.", typ.Value)
		}
		return recall.Errorf(recall.EINVALID, "Field %q must be a %s, not %s.", typ.Field, typ.Type, typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return recall.Errorf(recall.EINVALID, "Unknown field %s; the fields are content, post_type, title and priority.",
			recall.Truncate(strings.TrimPrefix(err.Error(), "json: unknown field "), 80))
	}
	return recall.Wrap(err, recall.EINVALID, "The request body could not be read.")
}

func isMaxBytes(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

func tooLarge(limit int64) error {
	return recall.Errorf(recall.ETOOLARGE, "The request body is larger than %d bytes.", limit)
}
