package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"recall/internal/auth"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/recall"
)

const invokeUsage = `
Usage: recall invoke FUNCTION --event FILE [--timeout 2m] [--data ./.recall]

Runs one Lambda function's handler (create, get, health or process) in this
process, wired exactly as functions/FUNCTION wires it, on the event in FILE
('-' for standard input), and prints the handler's response as JSON. This is
what 'sam local invoke' does, without Docker. Sample events are in events/.

It reads the local configuration, so without DYNAMODB_TABLE the function
runs on the embedded store in the data directory, which the function on AWS
never has. The embedded store can be open in one process at a time: stop
'recall serve' before invoking a function against the same data directory.`

func cmdInvoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		fs := newFlags("invoke", invokeUsage, stderr)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fs.Usage()
			return nil
		}
		fmt.Fprintln(stderr, "recall invoke: name the function first: create, get, health or process")
		return errUsage
	}
	name := args[0]
	fs := newFlags("invoke", invokeUsage, stderr)
	eventFile := fs.String("event", "", "event file to invoke with ('-' for stdin)")
	timeout := fs.Duration("timeout", 2*time.Minute, "the invocation's deadline, as Lambda's function timeout")
	data := fs.String("data", "", "data directory for the embedded store (default $RECALL_DATA_DIR or ./.recall)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *eventFile == "" {
		fmt.Fprintln(stderr, "recall invoke: --event is required")
		return errUsage
	}
	payload, err := readInput(*eventFile)
	if err != nil {
		return err
	}
	if !json.Valid(payload) {
		return fmt.Errorf("%s is not valid JSON", *eventFile)
	}
	if !slices.Contains(functionNames, name) {
		return fmt.Errorf("no function %q: want create, get, health or process", name)
	}
	// Local mode: the same data directory and defaults as 'recall serve', so
	// what one created the other can read.
	cfg, err := localConfig(*data)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	a, err := openApp(ctx, cfg, log, appOptions{})
	if err != nil {
		return err
	}
	defer a.Close()
	h := functionHandler(a, name, log)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       fmt.Sprintf("local-%d", time.Now().UnixNano()),
		InvokedFunctionArn: "arn:aws:lambda:local:000000000000:function:recall-" + name,
	})
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		return fmt.Errorf("%s returned an error: %w", name, err)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(out)
	}
	fmt.Fprintln(stdout, pretty.String())
	return nil
}

// functionNames are the Lambda functions, by their directory under
// functions/.
var functionNames = []string{httpapi.FunctionCreate, httpapi.FunctionGet, httpapi.FunctionHealth, lambdafn.FunctionProcess}

// functionHandler is the handler functions/<name> builds, over a's service:
// the function's routes behind the API Gateway authenticator and adapter,
// or the process function's handler. (The functions also write CloudWatch
// metrics to stdout after each invocation, which invoke leaves out.)
func functionHandler(a *localApp, name string, log *slog.Logger) lambda.Handler {
	if name == lambdafn.FunctionProcess {
		return lambda.NewHandler(lambdafn.Process(a.Service, lambdafn.ProcessOptions{
			Worker: recall.WorkerConfig{Concurrency: a.Config.Worker.Concurrency},
		}))
	}
	routes := httpapi.Routes(a.Service, httpapi.Options{Auth: auth.Gateway{}, Logger: log, Only: []string{name}})
	return lambda.NewHandler(lambdafn.HTTP(routes, lambdafn.WithLogger(log)))
}

func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, 6<<20))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	return b, nil
}
