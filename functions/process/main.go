// Command process is the Lambda function that analyses conversations: a
// direct invocation processes one, and an EventBridge schedule drains the
// queue within the invocation's time budget and runs the sweeper.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"recall/internal/config"
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
	log.InfoContext(ctx, "recall function starting", append([]any{"function", lambdafn.FunctionProcess}, cfg.LogAttrs()...)...)
	b, err := config.Open(ctx, cfg, log)
	exitOn(log, "open", err)
	analyzer, err := b.OpenAnalyzer(ctx)
	exitOn(log, "analyzer", err)
	// The queue is sampled after every invocation: the dead-letter and
	// queue-age alarms watch those gauges.
	emf := metrics.NewEMF(os.Stdout, metrics.EMFOptions{OnError: func(err error) { log.Warn("metrics not written", "error", err.Error()) }})
	sc := b.ServiceConfig(analyzer)
	sc.Observer = emf
	h := lambdafn.Process(recall.NewService(sc), lambdafn.ProcessOptions{Worker: recall.WorkerConfig{Concurrency: cfg.Worker.Concurrency}})
	lambda.Start(emf.Around(lambda.NewHandler(h), b.Queue))
}

// exitOn logs why the function cannot start and exits, so Lambda reports
// an init error, when err is not nil.
func exitOn(log *slog.Logger, what string, err error) {
	if err != nil {
		log.Error("process: start", "error", fmt.Sprintf("%s: %v", what, err))
		os.Exit(1)
	}
}
