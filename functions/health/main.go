// Command health is the Lambda function behind the public GET /api/health:
// it checks the store, the queue and the analyzer without calling the model.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"recall/internal/config"
)

func main() {
	h, log, err := config.LambdaHandler(context.Background(), config.FunctionHealth, config.HTTPFunction)
	if err != nil {
		log.Error("health: start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h)
}
