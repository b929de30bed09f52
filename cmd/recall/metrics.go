package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"recall/internal/config"
	"recall/internal/metrics"
	"recall/internal/metrics/prom"
	"recall/internal/recall"
)

// instrument gives app's service a Prometheus observer (keeping any observer
// it already has) and returns the /metrics handler: Recall's metrics, with
// the queue's gauges sampled on every scrape, plus the Go runtime's and the
// process's own. It replaces app.Service, so call it before anything takes
// hold of the service.
func instrument(app *config.App) (http.Handler, error) {
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
	c := app.Service.Config()
	c.Observer = metrics.Tee(c.Observer, p)
	app.Service = recall.NewService(c)
	log := app.Log
	return p.Handler(reg, app.Queue, func(err error) {
		log.WarnContext(context.Background(), "metrics: queue gauges not sampled", "error", err.Error())
	}), nil
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
