// Package extract is Recall's local analyzer. It needs no model and no
// network: it summarises a conversation by picking its most central
// sentences (TextRank over shared words), finds action items with rules
// for commitments, requests, named owners and task lists, and ranks
// keywords RAKE-style. Each action item also comes structured: the task
// (without the words that only assign or date it), the owner the
// conversation names (a speaker's "I'll…", "@bob", "Alice will…",
// "assigned to Bob", "(Wen)", the person who answers "can you…?" with
// "sure, tomorrow", "That's on you", a letter's sign-off) and the due date
// its words give, or, when they give none, the date of what they point
// back at ("before then", "before the next review" with "Next review: 4
// May" further down), resolved by package duedate against the
// conversation's creation time. Neither is ever guessed: an item the
// conversation gives no owner or date has none. It is deterministic, so
// the local runner, tests and load tests get the same answer for the same
// conversation every time, and it is fast enough (well under a millisecond
// for a 2 KB chat) that the worker, not the analyzer, is what a load test
// measures.
package extract

import (
	"context"
	"strings"
	"time"

	"recall/internal/duedate"
	"recall/internal/recall"
)

// Model is the model name the local analyzer reports in every analysis, so
// results can be told apart from a hosted model's.
const Model = "local-extractive"

// Options configures an Analyzer.
type Options struct {
	// Latency is added to every analysis, waiting on the context, to make
	// the local analyzer stand in for a slow model in load tests of the
	// pipeline (`recall bench --analyzer-latency 800ms`). Zero adds none.
	Latency time.Duration
	// Location is where the conversation's days begin and end, for reading
	// due dates ("by Friday", "EOD") against its creation time
	// (RECALL_TIMEZONE). Nil means UTC.
	Location *time.Location
	// DateOrder reads numeric dates such as 12/03; without one they are
	// ambiguous and give no due date.
	DateOrder duedate.Order
}

// Analyzer is the local, extractive recall.Analyzer. It holds no state
// between calls and is safe for concurrent use.
type Analyzer struct {
	latency time.Duration
	dates   duedate.Options
}

var _ recall.Analyzer = (*Analyzer)(nil)

// New returns an Analyzer configured by opts.
func New(opts Options) *Analyzer {
	return &Analyzer{latency: max(opts.Latency, 0), dates: duedate.Options{Location: opts.Location, Order: opts.DateOrder}}
}

// Analyze summarises in, lists its action items and keywords. It spends no
// tokens and makes no calls. The only error is the context's: when ctx ends
// before the analysis (or during the configured latency) it returns an
// EUNAVAILABLE error, which the worker retries.
func (a *Analyzer) Analyze(ctx context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	if err := ctx.Err(); err != nil {
		return recall.Analysis{}, recall.Wrap(err, recall.EUNAVAILABLE, "The analysis was cancelled before it started.")
	}
	if a.latency > 0 {
		t := time.NewTimer(a.latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return recall.Analysis{}, recall.Wrap(ctx.Err(), recall.EUNAVAILABLE, "The analysis was cancelled while waiting for the local analyzer.")
		}
	}
	return analyzeInput(in, a.dates), nil
}

// Health reports "local": the analyzer has nothing to reach or configure.
func (a *Analyzer) Health(context.Context) (string, error) {
	return "local", nil
}

// analyze analyses a conversation with no creation time, so only due
// dates that spell out their year are read.
func analyze(title, content string) recall.Analysis {
	return analyzeInput(recall.AnalysisInput{Title: title, Content: content}, duedate.Options{})
}

// analyzeInput is the analysis itself: a pure function of the input's
// title, content and creation time, and of how dates are read.
func analyzeInput(in recall.AnalysisInput, dates duedate.Options) recall.Analysis {
	content := normalize(in.Content)
	title := normalize(in.Title)
	d := newDocument(content)
	titleToks := d.prepare(tokenize(title))
	found := findActionItems(d)
	res := recall.Analysis{
		Summary:     summarize(d, titleToks),
		ActionItems: actionItems(found),
		Items:       structuredItems(d, found, in.CreatedAt, dates),
		Keywords:    keywords(d, titleToks),
		Model:       Model,
	}
	if res.Summary == "" {
		res.Summary = fallbackSummary(content)
	}
	return res
}

// normalize makes content safe to slice: valid UTF-8, one kind of line
// break, no NULs or zero-width characters.
func normalize(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if needsNormalizing(s) {
		s = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\x00", "", "\u200b", "", "\u200c", "", "\u200d", "", "\ufeff", "", "\u2028", "\n", "\u2029", "\n").Replace(s)
	}
	return s
}

// needsNormalizing reports whether s holds a character normalize removes
// or replaces: CR, NUL, U+200B–U+200D, U+2028, U+2029 or U+FEFF. It reads
// bytes, which is several times cheaper than strings.ContainsAny with
// characters outside ASCII.
func needsNormalizing(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\r', 0:
			return true
		case 0xE2: // U+2000–U+2FFF
			if i+2 < len(s) && s[i+1] == 0x80 {
				switch s[i+2] {
				case 0x8B, 0x8C, 0x8D, 0xA8, 0xA9:
					return true
				}
			}
		case 0xEF: // U+FEFF is EF BB BF
			if i+2 < len(s) && s[i+1] == 0xBB && s[i+2] == 0xBF {
				return true
			}
		}
	}
	return false
}

// fallbackSummary is the summary of content in which no sentence survived
// parsing (a lone timestamp, a line of markup): its first words.
func fallbackSummary(content string) string {
	if !hasLetter(content) {
		return ""
	}
	return truncateRunes(strings.Join(strings.Fields(content), " "), maxSentenceRunes)
}
