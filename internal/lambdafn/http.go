// Package lambdafn is the glue between AWS Lambda and Recall: it turns API
// Gateway HTTP API (payload 2.0) events into requests for an http.Handler,
// and scheduled or direct invocations of the process function into calls
// on the Service. The functions under functions/ are a few lines each
// because everything that can be tested lives here.
package lambdafn

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"recall/internal/httpapi"
	"recall/internal/recall"
)

// HTTPHandler is the signature lambda.Start expects for an HTTP API function.
type HTTPHandler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// HTTP adapts h to API Gateway HTTP API events, correcting what the proxy
// adapter gets wrong:
//
//   - it splits every header value not on its short list on commas
//     ("Idempotency-Key: a,b" arrives as two values, "Accept" as several);
//     the handler sees each header exactly as API Gateway received it;
//   - on a named stage rawPath starts with "/{stage}", which no route
//     expects; the prefix is removed;
//   - X-Request-Id is set to API Gateway's request id (a client's own is
//     not trusted here), so logs and the answer agree with API Gateway's;
//   - a path or body it cannot turn into a request, or a response it cannot
//     convert, becomes a JSON error answer rather than a Lambda error (which
//     API Gateway would show as a bare 500 with no request id).
func HTTP(h http.Handler, opts ...HTTPOption) HTTPHandler {
	o := httpOptions{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	adapter := httpadapter.NewV2(restoreHeaders(h))
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		ev = stripStage(ev)
		reqID := ev.RequestContext.RequestID
		if reqID == "" {
			if lc, ok := lambdacontext.FromContext(ctx); ok {
				reqID = lc.AwsRequestID
			}
		}
		// Copy the headers: the handler must see the client's, and the
		// event must not be changed under the caller.
		headers := make(map[string]string, len(ev.Headers)+1)
		for k, v := range ev.Headers {
			if textproto.CanonicalMIMEHeaderKey(k) == "X-Request-Id" {
				continue
			}
			headers[k] = v
		}
		if reqID != "" {
			headers["x-request-id"] = reqID
		}
		ev.Headers = headers
		if err := checkEvent(ev); err != nil {
			return o.errorResponse(ctx, reqID, err), nil
		}
		ctx = context.WithValue(ctx, rawHeadersKey{}, headers)
		resp, err := adapter.ProxyWithContext(ctx, ev)
		if err != nil {
			return o.errorResponse(ctx, reqID, fmt.Errorf("lambdafn: proxy adapter: %w", err)), nil
		}
		return resp, nil
	}
}

// HTTPOption configures HTTP.
type HTTPOption func(*httpOptions)

type httpOptions struct{ log *slog.Logger }

// WithLogger sends HTTP's own log lines (failures before or after the
// handler, which the handler cannot log) to l; by default they are dropped.
func WithLogger(l *slog.Logger) HTTPOption {
	return func(o *httpOptions) {
		if l != nil {
			o.log = l
		}
	}
}

type rawHeadersKey struct{}

// restoreHeaders replaces the adapter's comma-split header values with the
// values API Gateway sent (it already joins repeated headers with commas, the
// same form one header line with a list has).
func restoreHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if raw, ok := r.Context().Value(rawHeadersKey{}).(map[string]string); ok {
			for k, v := range raw {
				if k == "" {
					continue
				}
				r.Header[textproto.CanonicalMIMEHeaderKey(k)] = []string{v}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// stripStage removes the "/{stage}" prefix a named stage puts on the path.
// The $default stage has none.
func stripStage(ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPRequest {
	stage := ev.RequestContext.Stage
	if stage == "" || stage == "$default" {
		return ev
	}
	prefix := "/" + stage
	strip := func(p string) string {
		if p == prefix {
			return "/"
		}
		if strings.HasPrefix(p, prefix+"/") {
			return p[len(prefix):]
		}
		return p
	}
	ev.RawPath = strip(ev.RawPath)
	ev.RequestContext.HTTP.Path = strip(ev.RequestContext.HTTP.Path)
	return ev
}

// checkEvent finds what would make the adapter fail before it does, so the
// client gets a precise answer: a path that is not a URL is the client's
// fault (400); a body that is not the base64 the event claims is API
// Gateway's (500).
func checkEvent(ev events.APIGatewayV2HTTPRequest) error {
	p := ev.RawPath
	if p == "" {
		p = ev.RequestContext.HTTP.Path
	}
	if _, err := url.ParseRequestURI("/" + strings.TrimPrefix(p, "/")); err != nil {
		return recall.Errorf(recall.EINVALID, "The request path is not a valid URL path.")
	}
	if ev.RawQueryString != "" {
		if _, err := url.ParseQuery(ev.RawQueryString); err != nil {
			return recall.Errorf(recall.EINVALID, "The query string is malformed.")
		}
	}
	if ev.IsBase64Encoded {
		if _, err := base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return recall.Wrap(err, recall.EINTERNAL, "event body is not valid base64")
		}
	}
	return nil
}

// errorResponse renders err as the same JSON error answer the handler would,
// and logs it once.
func (o httpOptions) errorResponse(ctx context.Context, reqID string, err error) events.APIGatewayV2HTTPResponse {
	status := httpapi.Status(recall.ErrorCode(err))
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	o.log.Log(ctx, level, "request", "request_id", reqID, "status", status,
		"error_code", recall.ErrorCode(err), "error", err.Error())
	w := core.NewProxyResponseWriterV2()
	if reqID != "" {
		w.Header().Set("X-Request-Id", reqID)
	}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	httpapi.Error(w, r, err)
	resp, perr := w.GetProxyResponse()
	if perr != nil {
		// Cannot happen: Error always sets a status. Answer anyway.
		return events.APIGatewayV2HTTPResponse{
			StatusCode: http.StatusInternalServerError,
			Headers:    map[string]string{"Content-Type": "application/json"},
			Body:       fmt.Sprintf(`{"error":{"code":%q,"message":"An internal error has occurred."}}`, recall.EINTERNAL),
		}
	}
	return resp
}
