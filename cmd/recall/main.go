// Command recall is Recall's local runner and operator CLI: it serves the API
// and the worker on embedded defaults (or on Redis, DynamoDB and Bedrock when
// configured), mints local tokens, runs Lambda handlers on sample events, and
// inspects the queue.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand of the CLI.
type command struct {
	summary string
	usage   string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is the CLI's table of subcommands. It is a function, not a
// package variable, because cmdHelp reads the table it is part of.
func commands() map[string]command {
	return map[string]command{
		"serve":     {"run the API and the worker in one process", serveUsage, cmdServe},
		"token":     {"print a bearer token for local use", tokenUsage, cmdToken},
		"invoke":    {"run one Lambda function's handler on an event file", invokeUsage, cmdInvoke},
		"analyze":   {"run the configured analyzer once on a file", analyzeUsage, cmdAnalyze},
		"doctor":    {"check every component the configuration uses, with fixes", doctorUsage, cmdDoctor},
		"bench":     {"load-test an API: create N conversations, wait for their analyses, report", benchUsage, cmdBench},
		"reprocess": {"re-run analyses in bulk by status, age and owner, throttled and resumable", reprocessUsage, cmdReprocess},
		"reindex":   {"rebuild the embedded search index from the store, with a progress bar", reindexUsage, cmdReindex},
		"help":      {"explain a command", "recall help [COMMAND]", cmdHelp},
		"worker":    {"run only the worker and sweeper (with REDIS_URL)", workerUsage, cmdWorker},
		"usage":     {"print model usage and estimated cost across workers", usageUsage, cmdUsage},
		"queue":     {"inspect the Redis queue: stats, dead letters, redrive", queueUsage, cmdQueue},
	}
}

// exitCode lets a command choose its exit status (e.g. doctor's 1 on failure)
// without printing an error line.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		printHelp(stdout)
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "recall: unknown command %q\n\n", args[0])
		printHelp(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "recall %s: %v\n", args[0], err)
	return 1
}

var errUsage = errors.New("usage")

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "Recall stores conversations and has an AI model summarise them, asynchronously.")
	fmt.Fprintln(w, "\nUsage: recall COMMAND [flags]\n\nCommands:")
	table := commands()
	names := make([]string, 0, len(table))
	for name := range table {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, table[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'recall help COMMAND' or 'recall COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "Configuration comes from the environment (REDIS_URL, DYNAMODB_TABLE, RECALL_AI, ...); see the README.")
}

func cmdHelp(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 {
		printHelp(stdout)
		return nil
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q", args[0])
	}
	fmt.Fprintf(stdout, "%s\n\n%s\n", cmd.summary, strings.TrimSpace(cmd.usage))
	return nil
}

// newFlags returns a flag set whose --help prints the command's usage text.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n", strings.TrimSpace(usage))
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, turning a bad flag into errUsage (the flag package has
// already printed why).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
