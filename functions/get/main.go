// Command get is the Lambda function behind GET /api/conversations,
// GET /api/conversations/{id}, GET /api/search and GET /api/action-items:
// it reads and finds the caller's conversations and action items
// (httpapi.FunctionGet names its routes).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"recall/internal/auth"
	"recall/internal/config"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/metrics"
	"recall/internal/recall"
)

func main() {
	ctx := context.Background()
	log := lambdacontext.NewLogger()
	cfg, err := config.FromEnv(config.Lambda)
	exitOn(log, "configuration", err)
	log = lambdafn.Leveled(log, cfg.Log.Level)
	log.InfoContext(ctx, "recall function starting", append([]any{"function", httpapi.FunctionGet}, cfg.LogAttrs()...)...)
	b, err := config.Open(ctx, cfg, log)
	exitOn(log, "open", err)
	emf := metrics.NewEMF(os.Stdout, metrics.EMFOptions{OnError: func(err error) { log.Warn("metrics not written", "error", err.Error()) }})
	sc := b.ServiceConfig(config.StandIn(cfg))
	sc.Observer = emf
	routes := httpapi.Routes(recall.NewService(sc), httpapi.Options{Auth: auth.Gateway{}, Logger: log, Only: []string{httpapi.FunctionGet}})
	lambda.Start(emf.Around(lambda.NewHandler(lambdafn.HTTP(routes, lambdafn.WithLogger(log))), nil))
}

// exitOn logs why the function cannot start and exits, so Lambda reports
// an init error, when err is not nil.
func exitOn(log *slog.Logger, what string, err error) {
	if err != nil {
		log.Error("get: start", "error", fmt.Sprintf("%s: %v", what, err))
		os.Exit(1)
	}
}
