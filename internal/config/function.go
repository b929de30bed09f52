package config

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"recall/internal/auth"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/metrics"
	"recall/internal/recall"
)

// The Lambda functions, by the name of their directory under functions/.
const (
	FunctionCreate  = "create"
	FunctionGet     = "get"
	FunctionHealth  = "health"
	FunctionProcess = "process"
)

// Function returns the Lambda handler of the named function over a's
// backends, for `recall invoke`, so what runs locally is what runs in Lambda.
func (a *App) Function(name string) (lambda.Handler, error) {
	switch name {
	case FunctionCreate, FunctionGet, FunctionHealth:
		return HTTPFunction(a, name)
	case FunctionProcess:
		return ProcessFunction(a, name)
	}
	return nil, fmt.Errorf("no function %q: want create, get, health or process", name)
}

// Builder makes a function's handler over an App. The mains name theirs, so
// a binary links only its own kind of handler: the process function has no
// HTTP stack, the HTTP functions no drain.
type Builder func(a *App, name string) (lambda.Handler, error)

// HTTPFunction is the Builder of the API functions (create, get, health):
// the shared HTTP handler limited to the function's routes, behind the API
// Gateway adapter. Behind API Gateway the JWT authorizer has verified the
// token; the handler reads the verified claims from the request context.
func HTTPFunction(a *App, name string) (lambda.Handler, error) {
	h := httpapi.Routes(a.Service, httpapi.Options{Auth: auth.Gateway{}, Logger: a.Log, Only: []string{name}})
	return lambda.NewHandler(lambdafn.HTTP(h, lambdafn.WithLogger(a.Log))), nil
}

// ProcessFunction is the Builder of the process function: a direct
// invocation analyses one conversation, a scheduled one sweeps and drains.
func ProcessFunction(a *App, _ string) (lambda.Handler, error) {
	return lambda.NewHandler(lambdafn.Process(a.Service, lambdafn.ProcessOptions{
		Worker: recall.WorkerConfig{Concurrency: a.Config.Concurrency},
	})), nil
}

// LambdaHandler reads the configuration from the environment, opens the
// backends and returns the named function's handler: everything a function's
// main does before lambda.Start. The logger is usable even when err is not
// nil, so main can report why it cannot start.
//
// build makes the handler (HTTPFunction or ProcessFunction), and with names
// the parts the function needs beyond the core (see Part).
func LambdaHandler(ctx context.Context, name string, build Builder, with ...Part) (lambda.Handler, *slog.Logger, error) {
	cfg, err := FromEnv(Lambda)
	log := cfg.NewLogger(os.Stdout)
	if err != nil {
		return nil, log, fmt.Errorf("configuration: %w", err)
	}
	log.InfoContext(ctx, "recall function starting", append([]any{"function", name}, cfg.LogAttrs()...)...)
	// CloudWatch metrics as Embedded Metric Format lines on stdout, flushed
	// at the end of every invocation; the process function also samples the
	// queue then, which feeds the dead-letter and queue-age alarms.
	emf := metrics.NewEMF(os.Stdout, metrics.EMFOptions{OnError: func(err error) {
		log.Warn("metrics not written", "error", err.Error())
	}})
	app, err := OpenWith(ctx, cfg, log, append(with, WithObserver(emf))...)
	if err != nil {
		return nil, log, err
	}
	h, err := build(app, name)
	if err != nil {
		return nil, log, err
	}
	var q recall.Queue
	if name == FunctionProcess {
		q = app.Queue
	}
	return emf.Around(h, q), log, nil
}
