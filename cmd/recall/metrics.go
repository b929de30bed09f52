package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

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

// withMetrics serves GET /metrics with m and everything else with api: the
// metrics share the API's listener but not its authentication (scrapers
// carry no bearer token). Path matching is exact and done here rather than
// by a ServeMux, whose redirects for unclean paths would bypass the API's
// own JSON answers.
func withMetrics(api, m http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			m.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
