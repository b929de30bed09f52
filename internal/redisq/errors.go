package redisq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"recall/internal/recall"
)

// redisErr turns an error from go-redis into Recall's error at the
// boundary, wrapped with what was being done: the code says whose fault it
// is, the message what to fix. Callers (the service, `recall doctor`) read
// recall.ErrorCode and recall.ErrorMessage and match no text. Messages name
// REDIS_URL only when the fix is in it.
func redisErr(err error, format string, args ...any) error {
	code, msg := classify(err)
	return recall.Wrap(fmt.Errorf("redisq: "+format+": %w", append(args, err)...), code, msg)
}

// classify maps a go-redis error to a code and a message saying what to
// fix. It decides by type (go-redis's error replies, the network's and
// TLS's errors) and, for an error reply, by its first word, which is the
// protocol's error type:
//
//	NOAUTH, WRONGPASS, NOPERM                  → EUNAUTHORIZED
//	MOVED, ASK, CROSSSLOT (a cluster, a plain client),
//	a cluster client on a plain Redis, READONLY (a replica),
//	TLS against a plain server or the reverse, certificate errors → EINVALID
//	cannot connect, timeouts, closed connections,
//	CLUSTERDOWN, LOADING, TRYAGAIN, MASTERDOWN, OOM, anything else → EUNAVAILABLE
func classify(err error) (code, message string) {
	var reply redis.Error
	if errors.As(err, &reply) {
		return classifyReply(err, reply.Error())
	}
	var (
		noTLS    *noTLSError
		record   tls.RecordHeaderError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		alert    tls.AlertError
		dns      *net.DNSError
		netErr   net.Error
	)
	switch {
	case errors.As(err, &noTLS):
		return recall.EINVALID, "Redis accepted the connection but never answered the TLS handshake: it does not use TLS, so use redis:// in REDIS_URL, not rediss://"
	case errors.As(err, &record):
		return recall.EINVALID, "Redis answered without TLS: use redis:// in REDIS_URL, not rediss://"
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid):
		return recall.EINVALID, "Redis's TLS certificate was not accepted: use the endpoint's own host name in REDIS_URL, and a certificate authority this system trusts"
	case errors.As(err, &alert):
		return recall.EINVALID, "Redis refused the TLS handshake: check that REDIS_URL's rediss:// endpoint takes TLS connections from clients without a certificate"
	case errors.As(err, &dns):
		return recall.EUNAVAILABLE, "the Redis host name does not resolve: check its spelling, or the DNS this runs with"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return recall.EUNAVAILABLE, "Redis did not answer in time: check it runs and this host can reach it"
	case errors.Is(err, syscall.ECONNREFUSED):
		return recall.EUNAVAILABLE, "could not connect to Redis: nothing listens at that host and port; start Redis, or fix the address"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return recall.EUNAVAILABLE, "Redis closed the connection: it may be restarting, or it takes only TLS connections (then use rediss://)"
	case errors.Is(err, context.Canceled):
		return recall.EUNAVAILABLE, "the call to Redis was cancelled"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return recall.EUNAVAILABLE, "could not reach Redis: check it runs and the network lets this host connect"
	}
	return recall.EUNAVAILABLE, "Redis is unavailable"
}

// classifyReply classifies an error reply by its first word. A cluster
// client on a plain Redis gets a reply of the generic type ERR, so that one
// case is told by its text, the only one without a type of its own.
func classifyReply(err error, text string) (code, message string) {
	if redis.IsAuthError(err) { // also the "unauthenticated" protocol errors
		return recall.EUNAUTHORIZED, "Redis refused the user name or password in REDIS_URL"
	}
	kind, _, _ := strings.Cut(text, " ")
	switch kind {
	case "NOAUTH", "WRONGPASS":
		return recall.EUNAUTHORIZED, "Redis refused the user name or password in REDIS_URL"
	case "NOPERM":
		return recall.EUNAUTHORIZED, "the Redis user in REDIS_URL may not do what Recall needs: its ACL must allow Recall's keys and commands (scripts and streams)"
	case "MOVED", "ASK", "CROSSSLOT":
		return recall.EINVALID, "this Redis is a cluster: set RECALL_REDIS_CLUSTER=true, or add ?cluster=true to REDIS_URL"
	case "READONLY":
		return recall.EINVALID, "REDIS_URL names a read-only replica: use the primary endpoint"
	case "CLUSTERDOWN":
		return recall.EUNAVAILABLE, "the Redis cluster is down: not every slot is served"
	case "LOADING":
		return recall.EUNAVAILABLE, "Redis is loading its data after a restart"
	case "TRYAGAIN", "MASTERDOWN", "BUSY":
		return recall.EUNAVAILABLE, "Redis is busy (" + kind + "); retry shortly"
	case "OOM":
		return recall.EUNAVAILABLE, "Redis is out of memory (maxmemory): free some, or give it more"
	case "ERR":
		if strings.Contains(text, "cluster support disabled") {
			return recall.EINVALID, "this Redis is not a cluster: set RECALL_REDIS_CLUSTER=false and drop ?cluster=true from REDIS_URL"
		}
	}
	return recall.EUNAVAILABLE, "Redis refused the command (" + kind + ")"
}

// noTLSError is what the TLS dialer returns when a server accepted the
// connection but did not answer the handshake before the dial timeout: a
// Redis without TLS reads a TLS hello as an unfinished command and waits.
type noTLSError struct {
	addr string
	err  error
}

func (e *noTLSError) Error() string {
	return fmt.Sprintf("redisq: %s accepted the connection but never answered the TLS handshake: %v", e.addr, e.err)
}

func (e *noTLSError) Unwrap() error { return e.err }
