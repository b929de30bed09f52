package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"recall/internal/backends"
	"recall/internal/config"
	"recall/internal/recall"
)

const analyzeUsage = `
Usage: recall analyze [--json] [--title T] [--date YYYY-MM-DD] FILE|-

Runs the configured analyzer (RECALL_AI: local by default, or bedrock) once
on the conversation in FILE ('-' for standard input) and prints the summary,
action items (with owner and due date), keywords and token usage. It
touches no store or queue, so it is the quickest way to check model access
and prompt behaviour. Relative due dates ("by Friday") count from --date,
the day the conversation was posted: today by default.`

func cmdAnalyze(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("analyze", analyzeUsage, stderr)
	asJSON := fs.Bool("json", false, "print the analysis as JSON")
	title := fs.String("title", "", "the conversation's title, if it has one")
	date := fs.String("date", "", "the day the conversation was posted, YYYY-MM-DD (default today)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "recall analyze: name one file, or - for standard input")
		return errUsage
	}
	// Posted now, unless --date says otherwise: without a day, relative
	// due dates could not be resolved at all.
	posted := time.Now()
	if *date != "" {
		d, err := recall.ParseDate(*date)
		if err != nil {
			fmt.Fprintf(stderr, "recall analyze: --date %q is not a date (YYYY-MM-DD)\n", *date)
			return errUsage
		}
		posted = time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC)
	}
	var content []byte
	var err error
	if fs.Arg(0) == "-" {
		content, err = io.ReadAll(io.LimitReader(os.Stdin, 4<<20))
	} else {
		content, err = os.ReadFile(fs.Arg(0))
	}
	if err != nil {
		return fmt.Errorf("read conversation: %w", err)
	}
	if strings.TrimSpace(string(content)) == "" {
		return fmt.Errorf("%s is empty", fs.Arg(0))
	}
	cfg, err := config.FromEnv(config.Local)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := newLogger(cfg.Log, stderr)
	analyzer, err := backends.OpenAnalyzer(ctx, cfg, log)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Worker.AnalyzeTimeout)
	defer cancel()
	start := time.Now()
	a, err := analyzer.Analyze(ctx, recall.AnalysisInput{ConversationID: "cli", Title: *title, PostType: recall.DefaultPostType,
		Content: string(content), CreatedAt: posted})
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("analysis failed (%s): %s", recall.ErrorCode(err), recall.ErrorMessage(err))
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(a)
	}
	printAnalysis(stdout, a)
	fmt.Fprintf(stdout, "Keywords:\n  %s\n\n", strings.Join(a.Keywords, ", "))
	fmt.Fprintf(stdout, "Model %s: %d call(s), %d input + %d output tokens, %s\n",
		a.Model, a.Calls, a.Usage.InputTokens, a.Usage.OutputTokens, took.Round(time.Millisecond))
	return nil
}

// printAnalysis prints the summary and the action items, structured (with
// who and when) where the analyzer gave them, else as plain strings.
func printAnalysis(w io.Writer, a recall.Analysis) {
	lines := a.ActionItems
	if len(a.Items) > 0 {
		lines = make([]string, len(a.Items))
		for i, it := range a.Items {
			lines[i] = itemLine(it)
		}
	}
	fmt.Fprintf(w, "Summary:\n  %s\n\nAction items:\n", a.Summary)
	if len(lines) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  - %s\n", l)
	}
	fmt.Fprintln(w)
}

// itemLine is an action item with its owner and due date after it, where
// it has them.
func itemLine(it recall.ActionItem) string {
	var about []string
	if it.Owner != nil {
		about = append(about, *it.Owner)
	}
	if it.Due != nil {
		about = append(about, "due "+it.Due.String())
	}
	if len(about) == 0 {
		return it.Text
	}
	return it.Text + " (" + strings.Join(about, ", ") + ")"
}
