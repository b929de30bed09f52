package recall

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error codes. Each maps to one HTTP status in the HTTP layer (the one place
// that knows about statuses) and to one retry decision in the worker.
const (
	EINVALID      = "invalid_request"        // the caller sent something malformed
	EUNAUTHORIZED = "unauthorized"           // no or bad credentials
	EPERMISSION   = "permission_denied"      // credentials fine, access not granted (e.g. model access)
	ENOTFOUND     = "not_found"              // no such thing for this owner
	EMETHOD       = "method_not_allowed"     // route exists, method does not
	ECONFLICT     = "conflict"               // a condition on the current state failed
	ETOOLARGE     = "payload_too_large"      // body or field over its limit
	EMEDIA        = "unsupported_media_type" // body in a media type we do not read
	ETHROTTLED    = "throttled"              // a dependency asked us to slow down
	ERATELIMITED  = "rate_limited"           // the caller is over one of its per-owner limits
	EUNAVAILABLE  = "unavailable"            // a dependency is down; retry later
	EUNSUPPORTED  = "not_implemented"        // this deployment does not offer it; retrying will not help
	EINTERNAL     = "internal"               // a bug; details are logged, never shown
)

// Error is Recall's error: a code for programs and a message for people.
// The message must be safe to show to the caller; Err, if set, carries the
// underlying cause for logs and errors.Is.
type Error struct {
	Code    string
	Message string
	Err     error
	// RetryAfter, if set, is the earliest a retry can usefully happen (a
	// pacing limiter's wait, say). The worker waits at least this long
	// before redelivering, so a paced job is not spun through the queue.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message whose cause is err.
func Wrap(err error, code, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or a generic sentence for any other error so internals never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error has occurred."
}

// RetryAfter returns the largest RetryAfter of any *Error in err's chain, or
// 0 when none says.
func RetryAfter(err error) time.Duration {
	var d time.Duration
	for err != nil {
		if e, ok := err.(*Error); ok {
			d = max(d, e.RetryAfter)
		}
		err = errors.Unwrap(err)
	}
	return d
}

// Retryable reports whether an analysis that failed with err may succeed if
// tried again. Unknown errors (a dropped connection, a timeout) are
// retryable; a refusal that will not change by itself (invalid input, access
// not granted, missing credentials) is not.
func Retryable(err error) bool {
	switch ErrorCode(err) {
	case EINVALID, EPERMISSION, EUNAUTHORIZED, ENOTFOUND, ETOOLARGE:
		return false
	}
	return true
}

// Truncate shortens s to at most n bytes (never splitting a character, and
// dropping invalid UTF-8) and marks the cut with "…", so an error message or
// log attribute that quotes caller input stays short and printable.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Sleep waits d or until ctx ends, whichever comes first, and returns ctx's
// error in the second case: the one context-aware sleep every retry loop and
// pacing wait uses.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
