// Command create is the Lambda function behind the API's writes:
// POST /api/conversations and POST /api/conversations/{id}/reprocess (it
// stores the conversation, enqueues its analysis and nudges the process
// function to start it), PATCH of an action item, and
// DELETE /api/conversations/{id} (httpapi.FunctionCreate names its routes).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	lambdaapi "github.com/aws/aws-sdk-go-v2/service/lambda"

	"recall/internal/auth"
	"recall/internal/awslambda"
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
	log.InfoContext(ctx, "recall function starting", append([]any{"function", httpapi.FunctionCreate}, cfg.LogAttrs()...)...)
	b, err := config.Open(ctx, cfg, log)
	exitOn(log, "open", err)
	emf := metrics.NewEMF(os.Stdout, metrics.EMFOptions{OnError: func(err error) { log.Warn("metrics not written", "error", err.Error()) }})
	sc := b.ServiceConfig(config.StandIn(cfg))
	sc.Observer = emf
	if fn := cfg.Worker.ProcessFunction; fn != "" {
		awsCfg, err := b.AWS(ctx)
		exitOn(log, "nudger", err)
		sc.Nudger = awslambda.NewNudger(lambdaapi.NewFromConfig(awsCfg), fn)
	}
	routes := httpapi.Routes(recall.NewService(sc), httpapi.Options{Auth: auth.Gateway{}, Logger: log, Only: []string{httpapi.FunctionCreate}})
	lambda.Start(emf.Around(lambda.NewHandler(lambdafn.HTTP(routes, lambdafn.WithLogger(log))), nil))
}

// exitOn logs why the function cannot start and exits, so Lambda reports
// an init error, when err is not nil.
func exitOn(log *slog.Logger, what string, err error) {
	if err != nil {
		log.Error("create: start", "error", fmt.Sprintf("%s: %v", what, err))
		os.Exit(1)
	}
}
