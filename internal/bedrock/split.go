package bedrock

import (
	"regexp"
	"unicode/utf8"
)

// EstimateTokens is the analyzer's token estimate for s: one token per three
// bytes, rounded up. Real tokenizers give about four characters of English a
// token and roughly one token per CJK character (three UTF-8 bytes), so
// bytes/3 errs on the high side for every script: a budget computed with it
// is never exceeded in practice.
func EstimateTokens(s string) int { return (len(s) + 2) / 3 }

// PlanCalls says how many parts a conversation of contentTokens (by
// EstimateTokens) is split into under a budget of budgetTokens per call, and
// how many model calls its analysis costs:
//
//	parts = ceil(contentTokens / budgetTokens)
//	calls = parts + 1 if parts > 1 (a final call combines the part summaries), else 1
//
// A cache hit costs no call at all. The split always produces exactly this
// many parts, each within the budget, so the cost of a conversation is known
// before the first call.
func PlanCalls(contentTokens, budgetTokens int) (parts, calls int) {
	if budgetTokens < 1 {
		budgetTokens = 1
	}
	parts = (contentTokens + budgetTokens - 1) / budgetTokens
	if parts < 1 {
		parts = 1
	}
	calls = parts
	if parts > 1 {
		calls++
	}
	return parts, calls
}

// Boundaries to cut a long conversation at, best first: a new turn (a blank
// line, or a line that starts "Speaker:"), any line end, a sentence end, any
// space. Only when none lies where a cut may go is a word split.
var cutLevels = []*regexp.Regexp{
	regexp.MustCompile(`\n[ \t]*\n|\n[^\s:]{1}[^:\n]{0,40}:`),
	regexp.MustCompile(`\n`),
	regexp.MustCompile(`[.!?…]['"’”)\]]*[ \t]+|[。！？]`),
	regexp.MustCompile(`\s+`),
}

// SplitHeadroom is the divisor of the budget a part may exceed it by to end
// at a good boundary: a part is at most budget + budget/SplitHeadroom.
const SplitHeadroom = 8

// splitContent cuts s into exactly PlanCalls(EstimateTokens(s), budget)
// parts at the best boundaries it can find near even cut points. Parts
// average at most the budget; one part may exceed it by up to an eighth
// (SplitHeadroom) so that cuts can move to a turn or sentence end instead of
// splitting a word. Keep InputBudgetTokens an eighth below what the model
// must never exceed (the default is far below any Claude context window).
//
// Working in bytes (3 per estimated token) keeps the count exact:
// ceil(ceil(bytes/3)/budget) = ceil(bytes/(3·budget)). Each cut i is chosen
// inside the window that keeps the rest feasible — no earlier than leaves
// the remaining parts room under the hard limit, no later than this part's
// hard limit — preferring the best boundary class present in that window
// and, within it, the position nearest the even split of what remains.
func splitContent(s string, budgetTokens int) []string {
	if budgetTokens < 1 {
		budgetTokens = 1
	}
	n, _ := PlanCalls(EstimateTokens(s), budgetTokens)
	if n == 1 {
		return []string{s}
	}
	limit := budgetTokens * 3
	hard := limit + limit/SplitHeadroom
	parts := make([]string, 0, n)
	prev := 0
	for i := 1; i < n; i++ {
		lo := max(prev+1, len(s)-(n-i)*hard)
		hi := min(prev+hard, len(s)-1)
		ideal := min(max(prev+(len(s)-prev)/(n-i+1), lo), hi)
		// Look for a boundary near the even split first, so parts stay
		// even and later cuts keep room; then anywhere feasible.
		w := max(limit/SplitHeadroom, 1)
		cut := bestCut(s, prev, max(lo, ideal-w), min(hi, ideal+w), ideal)
		if cut < 0 {
			cut = bestCut(s, prev, lo, hi, ideal)
		}
		if cut < 0 {
			cut = runeCut(s, lo, ideal)
		}
		parts = append(parts, s[prev:cut])
		prev = cut
	}
	return append(parts, s[prev:])
}

// bestCut returns the position p in [lo, hi] nearest ideal of the best
// boundary class present there, to end a part at (s[:p] | s[p:]), or -1.
func bestCut(s string, from, lo, hi, ideal int) int {
	start := max(from, lo-64) // let a boundary that ends inside the window start before it
	window := s[start:hi]
	for level, re := range cutLevels {
		best, bestDist := -1, 0
		for _, m := range re.FindAllStringIndex(window, -1) {
			p := start + m[1]
			if level == 0 && s[start+m[1]-1] == ':' {
				p = start + m[0] + 1 // "\nSpeaker:": cut before the speaker
			}
			if p < lo || p > hi {
				continue
			}
			d := p - ideal
			if d < 0 {
				d = -d
			}
			if best < 0 || d < bestDist {
				best, bestDist = p, d
			}
		}
		if best >= 0 {
			return best
		}
	}
	return -1
}

// runeCut splits inside a word when the window has no boundary at all: at
// the character boundary at or before ideal (after lo), else the next one.
func runeCut(s string, lo, ideal int) int {
	p := ideal
	for p > lo && !utf8.RuneStart(s[p]) {
		p--
	}
	for p < len(s) && !utf8.RuneStart(s[p]) {
		p++
	}
	return p
}
