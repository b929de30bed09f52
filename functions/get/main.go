// Command get is the Lambda function behind GET /api/conversations,
// GET /api/conversations/{id}, GET /api/search and GET /api/action-items:
// it reads and finds the caller's conversations and action items
// (httpapi.FunctionGet names its routes).
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
	log, cfg := lambdafn.Boot(httpapi.FunctionGet)
	log.InfoContext(ctx, "recall function starting", append([]any{"function", httpapi.FunctionGet}, cfg.LogAttrs()...)...)
	// No embedded store in Lambda: conversations live in DynamoDB.
	b, err := backends.Open(ctx, cfg, log, backends.Embedded{})
	lambdafn.ExitOn(log, httpapi.FunctionGet, "open", err)
	emf := lambdafn.EMF(log)
	sc := b.ServiceConfig(backends.StandIn(cfg))
	sc.Observer = emf
	routes := httpapi.Routes(recall.NewService(sc), httpapi.Options{Auth: auth.Gateway{}, Logger: log, Only: []string{httpapi.FunctionGet}})
	lambda.Start(emf.Around(lambda.NewHandler(lambdafn.HTTP(routes, lambdafn.WithLogger(log))), nil))
}
