// Command get is the Lambda function behind GET /api/conversations and
// GET /api/conversations/{id}: it reads the caller's conversations.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"recall/internal/config"
)

func main() {
	h, log, err := config.LambdaHandler(context.Background(), config.FunctionGet, config.HTTPFunction)
	if err != nil {
		log.Error("get: start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h)
}
