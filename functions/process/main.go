// Command process is the Lambda function that analyses conversations: a
// direct invocation processes one, and an EventBridge schedule drains the
// queue within the invocation's time budget and runs the sweeper.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"recall/internal/backends"
	"recall/internal/lambdafn"
	"recall/internal/recall"
)

func main() {
	ctx := context.Background()
	log, cfg := lambdafn.Boot(lambdafn.FunctionProcess)
	log.InfoContext(ctx, "recall function starting", append([]any{"function", lambdafn.FunctionProcess}, cfg.LogAttrs()...)...)
	// No embedded store in Lambda: conversations live in DynamoDB.
	b, err := backends.Open(ctx, cfg, log, backends.Embedded{})
	lambdafn.ExitOn(log, lambdafn.FunctionProcess, "open", err)
	analyzer, err := b.OpenAnalyzer(ctx)
	lambdafn.ExitOn(log, lambdafn.FunctionProcess, "analyzer", err)
	// The queue is sampled after every invocation: the dead-letter and
	// queue-age alarms watch those gauges.
	emf := lambdafn.EMF(log)
	sc := b.ServiceConfig(analyzer)
	sc.Observer = emf
	h := lambdafn.Process(recall.NewService(sc), lambdafn.ProcessOptions{Worker: recall.WorkerConfig{Concurrency: cfg.Worker.Concurrency}})
	lambda.Start(emf.Around(lambda.NewHandler(h), b.Queue))
}
