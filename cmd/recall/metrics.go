package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"recall/internal/config"
	"recall/internal/metrics/prom"
	"recall/internal/recall"
)

// promMetrics is the local runner's Prometheus exporter: Recall's metrics
// plus the Go runtime's and the process's own. Its exporter is the service's
// Observer, given when the runner opens the service.
type promMetrics struct {
	reg *prometheus.Registry
	exp *prom.Exporter
}

func newPromMetrics() (*promMetrics, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	p, err := prom.New(reg)
	if err != nil {
		return nil, err
	}
	return &promMetrics{reg: reg, exp: p}, nil
}

// handler serves /metrics, sampling q's gauges on every scrape.
func (m *promMetrics) handler(q recall.Queue, log *slog.Logger) http.Handler {
	return m.exp.Handler(m.reg, q, func(err error) {
		log.WarnContext(context.Background(), "metrics: queue gauges not sampled", "error", err.Error())
	})
}

// metricsServer serves /metrics on a listener of its own
// (RECALL_METRICS_ADDR, loopback by default), apart from the API's public
// listener: scrapers carry no bearer token, and what the metrics show
// (queue depths, token spend, the Go runtime) is for the operator.
type metricsServer struct {
	ln   net.Listener
	srv  *http.Server
	done chan error
}

// listenMetrics opens the metrics listener cfg names, or none when it is
// off. When the default address is taken (another runner on this host has
// it) it runs without metrics and warns; an address set on purpose that
// cannot be used is an error.
func listenMetrics(cfg config.Metrics, m http.Handler, log *slog.Logger) (*metricsServer, error) {
	if cfg.Addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		if cfg.Optional {
			log.Warn("metrics not served: their default address is taken (another recall serve?); set RECALL_METRICS_ADDR to another address, or to off",
				"metrics_addr", cfg.Addr, "error", err.Error())
			return nil, nil
		}
		return nil, fmt.Errorf("RECALL_METRICS_ADDR: listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           metricsOnly(m),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	return &metricsServer{ln: ln, srv: srv, done: make(chan error, 1)}, nil
}

// start serves in the background; stopped is called if serving fails.
func (s *metricsServer) start(stopped func()) {
	go func() { s.done <- s.srv.Serve(s.ln); stopped() }()
}

// shutdown stops serving; a scrape in progress gets a second to finish.
func (s *metricsServer) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	if err := <-s.done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// metricsOnly serves GET and HEAD /metrics with m and 404 to everything
// else. Path matching is exact (no ServeMux redirects for unclean paths).
func metricsOnly(m http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			m.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
}
