// Command create is the Lambda function behind the API's writes:
// POST /api/conversations and POST /api/conversations/{id}/reprocess (it
// stores the conversation, enqueues its analysis and nudges the process
// function to start it), PATCH of an action item, and
// DELETE /api/conversations/{id} (httpapi.FunctionCreate names its routes).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	lambdaapi "github.com/aws/aws-sdk-go-v2/service/lambda"

	"recall/internal/auth"
	"recall/internal/awslambda"
	"recall/internal/backends"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/recall"
)

func main() {
	ctx := context.Background()
	log, cfg := lambdafn.Boot(httpapi.FunctionCreate)
	log.InfoContext(ctx, "recall function starting", append([]any{"function", httpapi.FunctionCreate}, cfg.LogAttrs()...)...)
	// No embedded store in Lambda: conversations live in DynamoDB.
	b, err := backends.Open(ctx, cfg, log, backends.Embedded{})
	lambdafn.ExitOn(log, httpapi.FunctionCreate, "open", err)
	emf := lambdafn.EMF(log)
	sc := b.ServiceConfig(backends.StandIn(cfg))
	sc.Observer = emf
	if fn := cfg.Worker.ProcessFunction; fn != "" {
		awsCfg, err := b.AWS(ctx)
		lambdafn.ExitOn(log, httpapi.FunctionCreate, "nudger", err)
		sc.Nudger = awslambda.NewNudger(lambdaapi.NewFromConfig(awsCfg), fn)
	}
	routes := httpapi.Routes(recall.NewService(sc), httpapi.Options{Auth: auth.Gateway{}, Logger: log, Only: []string{httpapi.FunctionCreate}})
	lambda.Start(emf.Around(lambda.NewHandler(lambdafn.HTTP(routes, lambdafn.WithLogger(log))), nil))
}
