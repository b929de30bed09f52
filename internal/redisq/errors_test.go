package redisq

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"recall/internal/recall"
)

// reply is an error reply as go-redis returns one it has no type for.
type reply string

func (r reply) Error() string { return string(r) }
func (reply) RedisError()     {}

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		code string
		says string // the message names what to fix
	}{
		{"no password", reply("NOAUTH Authentication required."), recall.EUNAUTHORIZED, "password in REDIS_URL"},
		{"wrong password", reply("WRONGPASS invalid username-password pair or user is disabled."), recall.EUNAUTHORIZED, "password in REDIS_URL"},
		{"acl", reply("NOPERM this user has no permissions to access one of the keys used as arguments"), recall.EUNAUTHORIZED, "ACL"},
		{"moved", reply("MOVED 16023 10.0.0.2:6379"), recall.EINVALID, "RECALL_REDIS_CLUSTER=true"},
		{"ask", reply("ASK 16023 10.0.0.2:6379"), recall.EINVALID, "RECALL_REDIS_CLUSTER=true"},
		{"crossslot", reply("CROSSSLOT Keys in request don't hash to the same slot"), recall.EINVALID, "RECALL_REDIS_CLUSTER=true"},
		{"cluster client, plain redis", reply("ERR This instance has cluster support disabled"), recall.EINVALID, "RECALL_REDIS_CLUSTER=false"},
		{"replica", reply("READONLY You can't write against a read only replica."), recall.EINVALID, "primary"},
		{"cluster down", reply("CLUSTERDOWN The cluster is down"), recall.EUNAVAILABLE, "cluster is down"},
		{"loading", reply("LOADING Redis is loading the dataset in memory"), recall.EUNAVAILABLE, "loading"},
		{"try again", reply("TRYAGAIN Multiple keys request during rehashing of slot"), recall.EUNAVAILABLE, "TRYAGAIN"},
		{"out of memory", reply("OOM command not allowed when used memory > 'maxmemory'."), recall.EUNAVAILABLE, "maxmemory"},
		{"other reply", reply("ERR unknown command 'FOO'"), recall.EUNAVAILABLE, "ERR"},
		{"wrapped reply", fmt.Errorf("run script: %w", reply("WRONGPASS bad")), recall.EUNAUTHORIZED, "password"},
		{"tls to a plain redis", &noTLSError{addr: "h:6379", err: context.DeadlineExceeded}, recall.EINVALID, "redis://"},
		{"tls reply not tls", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, recall.EINVALID, "redis://"},
		{"unknown authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, recall.EINVALID, "certificate"},
		{"wrong host name", x509.HostnameError{Host: "10.0.0.2"}, recall.EINVALID, "host name"},
		{"expired", x509.CertificateInvalidError{Reason: x509.Expired}, recall.EINVALID, "certificate"},
		{"tls alert", tls.AlertError(40), recall.EINVALID, "TLS"},
		{"refused", refused, recall.EUNAVAILABLE, "nothing listens"},
		{"no such host", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "redis.internal"}}, recall.EUNAVAILABLE, "does not resolve"},
		{"timeout", context.DeadlineExceeded, recall.EUNAVAILABLE, "in time"},
		{"net timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, recall.EUNAVAILABLE, "in time"},
		{"closed", io.EOF, recall.EUNAVAILABLE, "rediss://"},
		{"reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, recall.EUNAVAILABLE, "closed the connection"},
		{"unknown", errors.New("something else"), recall.EUNAVAILABLE, "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := redisErr(tc.err, "ping")
			if got := recall.ErrorCode(err); got != tc.code {
				t.Errorf("code %s, want %s (%v)", got, tc.code, err)
			}
			if msg := recall.ErrorMessage(err); !strings.Contains(msg, tc.says) {
				t.Errorf("message %q does not say %q", msg, tc.says)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap its cause", err)
			}
		})
	}
}
