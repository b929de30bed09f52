// Command process is the Lambda function that analyses conversations: a
// direct invocation processes one, and an EventBridge schedule drains the
// queue within the invocation's time budget and runs the sweeper.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"recall/internal/config"
)

func main() {
	h, log, err := config.LambdaHandler(context.Background(), config.FunctionProcess, config.ProcessFunction, config.WithBedrock())
	if err != nil {
		log.Error("process: start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(h)
}
