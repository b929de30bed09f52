package redisq

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClientOptions tunes NewClient.
type ClientOptions struct {
	// Cluster makes a cluster client, as ElastiCache Serverless and any
	// Redis Cluster need. A URL can also say so with ?cluster=true.
	Cluster bool
	// Timeout bounds dialing and each read and write (2s when zero), so
	// every queue call fails fast while Redis is down. URL parameters
	// dial_timeout, read_timeout and write_timeout take precedence.
	Timeout time.Duration
	// ClientName is sent with CLIENT SETNAME, to tell connections apart in
	// CLIENT LIST.
	ClientName string
}

// NewClient opens a go-redis client for rawURL: redis://[user:password@]
// host:port[/db] or rediss:// for TLS, with ?cluster=true (or
// opts.Cluster) for a cluster client, plus any option go-redis's own URL
// parser knows (pool_size, dial_timeout, ...). The client connects lazily;
// nothing is dialed here.
func NewClient(rawURL string, opts ClientOptions) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisq: parse redis url: %w", redactErr(err))
	}
	q := u.Query()
	if v := q.Get("cluster"); v != "" {
		c, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("redisq: redis url: cluster=%q is not a boolean", v)
		}
		opts.Cluster = opts.Cluster || c
		q.Del("cluster")
		u.RawQuery = q.Encode()
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if opts.Cluster {
		if u.Path != "" && u.Path != "/" && u.Path != "/0" {
			return nil, fmt.Errorf("redisq: redis url: a cluster has only database 0")
		}
		u.Path = ""
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("redisq: parse redis cluster url: %w", redactErr(err))
		}
		failFast(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries, &o.ClientName, timeout, opts.ClientName)
		if o.TLSConfig != nil {
			o.Dialer = tlsDialer(o.TLSConfig, o.DialTimeout)
		}
		return redis.NewClusterClient(o), nil
	}
	o, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redisq: parse redis url: %w", redactErr(err))
	}
	failFast(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries, &o.ClientName, timeout, opts.ClientName)
	if o.TLSConfig != nil {
		o.Dialer = tlsDialer(o.TLSConfig, o.DialTimeout)
	}
	return redis.NewClient(o), nil
}

// tlsDialer connects and then does the TLS handshake as a step of its own,
// within the dial timeout, as go-redis's own dialer does in one. A Redis
// without TLS behind a rediss:// URL accepts the connection, reads the TLS
// hello as an unfinished command and answers nothing; told apart this way,
// it is reported as the misconfiguration it is (noTLSError) instead of as a
// Redis that does not answer.
func tlsDialer(cfg *tls.Config, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := cfg.Clone()
		if c.ServerName == "" {
			c.ServerName, _, _ = net.SplitHostPort(addr)
		}
		hctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		tc := tls.Client(conn, c)
		if err := tc.HandshakeContext(hctx); err != nil {
			conn.Close()
			var ne net.Error
			if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
				return nil, &noTLSError{addr: addr, err: err}
			}
			return nil, err
		}
		return tc, nil
	}
}

// failFast applies the settings that make every queue call fail quickly
// while Redis is down, to either client's options (go-redis's single-node
// and cluster options share these fields but no type): timeouts the URL did
// not set, one retry, and the client name.
func failFast(dial, read, write *time.Duration, retries, dialerRetries *int, name *string, timeout time.Duration, clientName string) {
	*dial, *read, *write = or(*dial, timeout), or(*read, timeout), or(*write, timeout)
	if *retries == 0 {
		*retries = 1
	}
	if *dialerRetries == 0 {
		*dialerRetries = 1
	}
	if clientName != "" {
		*name = clientName
	}
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// redactErr keeps a password in a malformed URL out of error messages.
func redactErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = u.Redacted()
		} else {
			ue.URL = "(redacted)"
		}
		return ue
	}
	return err
}
