package httpapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"recall/internal/recall"
)

// requestInfo collects, while a request is served, what its log line says.
// Only the request's own goroutine touches it.
type requestInfo struct {
	id             string
	route          string
	owner          string
	conversationID string
	err            error // the error rendered, if any
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// setConversation records the conversation a request was about, for the log.
func setConversation(r *http.Request, id string) {
	if info := infoFrom(r.Context()); info != nil && recall.ValidID(id) {
		info.conversationID = id
	}
}

// statusWriter remembers the status written, so the log line and the panic
// handler know what the client got.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// edge is what every request passes through first: it assigns the request
// id, recovers panics into a JSON 500, and logs one line when the request
// ends. It never logs bodies, tokens or the Authorization header.
func (a *api) edge(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	start := time.Now()
	info := &requestInfo{id: RequestID(r)}
	w.Header().Set("X-Request-Id", info.id)
	sw := &statusWriter{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				a.logRequest(r, info, sw.status, start)
				panic(v)
			}
			err := fmt.Errorf("panic: %v", v)
			a.log.ErrorContext(r.Context(), "panic serving request", "request_id", info.id,
				"route", info.route, "error", err.Error(), "stack", string(debug.Stack()))
			if sw.status == 0 {
				writeError(sw, r, err)
			} else {
				info.err = err
			}
		}
		a.logRequest(r, info, sw.status, start)
	}()
	next(sw, r)
}

func (a *api) logRequest(r *http.Request, info *requestInfo, status int, start time.Time) {
	if status == 0 {
		status = http.StatusOK
	}
	attrs := []slog.Attr{
		slog.String("request_id", info.id),
		slog.String("method", recall.Truncate(r.Method, 20)),
		slog.String("route", info.route),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if info.route == "" {
		attrs = append(attrs, slog.String("path", recall.Truncate(r.URL.EscapedPath(), 200)))
	}
	if info.owner != "" {
		attrs = append(attrs, slog.String("owner", info.owner))
	}
	if info.conversationID != "" {
		attrs = append(attrs, slog.String("conversation_id", info.conversationID))
	}
	level := slog.LevelInfo
	if info.err != nil {
		attrs = append(attrs, slog.String("error_code", recall.ErrorCode(info.err)))
		if status >= 500 {
			// The cause of a 5xx is logged here, once; the client only
			// sees the safe message.
			attrs = append(attrs, slog.String("error", info.err.Error()))
			level = slog.LevelWarn
			if status == http.StatusInternalServerError {
				level = slog.LevelError
			}
		}
	}
	a.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// RequestID returns the id a request is logged and answered under: a sane
// X-Request-Id header (which the Lambda glue sets from API Gateway's request
// id) or else a fresh random one.
func RequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); saneRequestID(id) {
		return id
	}
	return rand.Text()
}

// saneRequestID accepts ids that are safe to echo in a header and a log: 1
// to 128 characters of letters, digits and "-_.:+/=" (API Gateway's ids are
// base64, with "=").
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}
