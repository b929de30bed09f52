// Command health is the Lambda function behind the public GET /api/health:
// it checks the store, the queue and the analyzer without calling the model.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"recall/internal/auth"
	"recall/internal/backends"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/recall"
)

func main() {
	ctx := context.Background()
	log, cfg := lambdafn.Boot(httpapi.FunctionHealth)
	log.InfoContext(ctx, "recall function starting", append([]any{"function", httpapi.FunctionHealth}, cfg.LogAttrs()...)...)
	// No embedded store in Lambda: conversations live in DynamoDB.
	b, err := backends.Open(ctx, cfg, log, backends.Embedded{})
	lambdafn.ExitOn(log, httpapi.FunctionHealth, "open", err)
	emf := lambdafn.EMF(log)
	sc := b.ServiceConfig(backends.StandIn(cfg))
	sc.Observer = emf
	routes := httpapi.Routes(recall.NewService(sc), httpapi.Options{Auth: auth.Gateway{}, Logger: log, Only: []string{httpapi.FunctionHealth}})
	lambda.Start(emf.Around(lambda.NewHandler(lambdafn.HTTP(routes, lambdafn.WithLogger(log))), nil))
}
