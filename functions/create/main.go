// Command create is the Lambda function behind POST /api/conversations and
// POST /api/conversations/{id}/reprocess: it stores the conversation and
// enqueues its analysis.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"recall/internal/config"
)

func main() {
	h, log, err := config.LambdaHandler(context.Background(), config.FunctionCreate, config.HTTPFunction, config.WithNudger())
	if err != nil {
		log.Error("create: start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h)
}
