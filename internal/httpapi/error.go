package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"recall/internal/recall"
)

// statuses is the one table that turns recall error codes into HTTP
// statuses. A code missing from it is treated as internal.
var statuses = map[string]int{
	recall.EINVALID:      http.StatusBadRequest,
	recall.EUNAUTHORIZED: http.StatusUnauthorized,
	recall.EPERMISSION:   http.StatusForbidden,
	recall.ENOTFOUND:     http.StatusNotFound,
	recall.EMETHOD:       http.StatusMethodNotAllowed,
	recall.ECONFLICT:     http.StatusConflict,
	recall.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	recall.EMEDIA:        http.StatusUnsupportedMediaType,
	recall.ETHROTTLED:    http.StatusTooManyRequests,
	recall.ERATELIMITED:  http.StatusTooManyRequests,
	recall.EUNAVAILABLE:  http.StatusServiceUnavailable,
	recall.EUNSUPPORTED:  http.StatusNotImplemented,
	recall.EINTERNAL:     http.StatusInternalServerError,
}

// Status returns the HTTP status for a recall error code (500 for codes it
// does not know), so every layer that answers HTTP agrees with this one.
func Status(code string) int {
	if s, ok := statuses[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// RetryAfterSeconds is what 429 and 503 answers ask clients to wait when
// the error does not say (recall.Error.RetryAfter).
const RetryAfterSeconds = "5"

// retryAfter is the Retry-After header for err: the whole seconds (rounded
// up) its RetryAfter names, or RetryAfterSeconds.
func retryAfter(err error) string {
	d := recall.RetryAfter(err)
	if d <= 0 {
		return RetryAfterSeconds
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is a code for programs and a message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error writes err as a JSON error answer with the status from the table,
// the headers that status calls for, and a message that is safe to show: an
// internal error's details are recorded for the request's log line, never
// sent. The Lambda glue uses it for failures outside the handler.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, err)
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := recall.ErrorCode(err)
	status := Status(code)
	if _, ok := statuses[code]; !ok {
		code = recall.EINTERNAL
	}
	msg := recall.ErrorMessage(err)
	if status == http.StatusInternalServerError {
		code, msg = recall.EINTERNAL, "An internal error has occurred."
	}
	if r != nil {
		if info := infoFrom(r.Context()); info != nil {
			info.err = err
		}
	}
	h := w.Header()
	switch status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="recall"`)
		if r != nil && r.Header.Get("Authorization") != "" {
			h.Set("WWW-Authenticate", `Bearer realm="recall", error="invalid_token"`)
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		h.Set("Retry-After", retryAfter(err))
	}
	writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
}

// writeJSON writes v with the headers every JSON answer carries.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		// Only a bug gets here (our views always marshal).
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"code":"internal","message":"An internal error has occurred."}}` + "\n")
	}
	writeRaw(w, status, body)
}

// marshal encodes v as every answer is encoded: JSON and a newline, with
// '<', '>' and '&' left as they are. Escaping them guards JSON pasted into
// HTML, which no answer is (each is application/json with nosniff, and the
// web app renders what people wrote with textContent), and it made a page
// of '<' six times larger than its content.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
