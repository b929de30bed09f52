package bedrock

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPlanCalls(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tokens, budget, parts, calls int
	}{
		{0, 100, 1, 1},
		{1, 100, 1, 1},
		{100, 100, 1, 1},
		{101, 100, 2, 3},
		{200, 100, 2, 3},
		{201, 100, 3, 4},
		{1000, 100, 10, 11},
		{5, 0, 5, 6}, // a zero budget counts as 1
	}
	for _, tt := range tests {
		parts, calls := PlanCalls(tt.tokens, tt.budget)
		if parts != tt.parts || calls != tt.calls {
			t.Errorf("PlanCalls(%d, %d) = %d parts, %d calls; want %d, %d", tt.tokens, tt.budget, parts, calls, tt.parts, tt.calls)
		}
	}
}

func TestEstimateTokensIsConservative(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text string
		want int
	}{
		{"", 0},
		{"abc", 1},
		{"abcd", 2},
		{strings.Repeat("word ", 100), 167}, // 500 bytes: real models ~125 tokens
		{strings.Repeat("会", 10), 10},       // 30 bytes: one token per CJK character
	} {
		if got := EstimateTokens(tt.text); got != tt.want {
			t.Errorf("EstimateTokens(%q…) = %d, want %d", tt.text[:min(len(tt.text), 10)], got, tt.want)
		}
	}
}

// conversation makes n turns of chat with sentences of varied length.
func conversation(rng *rand.Rand, turns int) string {
	speakers := []string{"Anna", "Ben", "Chloé", "Dmitri"}
	words := []string{"release", "budget", "the", "plan", "we", "ship", "Friday", "review", "会议", "naïve", "déjà", "vu", "ok", "tests", "pass"}
	var b strings.Builder
	for i := range turns {
		b.WriteString(speakers[i%len(speakers)] + ": ")
		for s := range 1 + rng.IntN(4) {
			if s > 0 {
				b.WriteString(" ")
			}
			for w := range 3 + rng.IntN(12) {
				if w > 0 {
					b.WriteString(" ")
				}
				b.WriteString(words[rng.IntN(len(words))])
			}
			b.WriteString(".")
		}
		b.WriteString("\n")
		if rng.IntN(5) == 0 {
			b.WriteString("\n")
		}
	}
	return strings.TrimSpace(b.String())
}

func TestSplitContentMatchesThePlan(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	midWord, total := 0, 0
	for i := range 300 {
		text := conversation(rng, 1+rng.IntN(80))
		budget := 64 + rng.IntN(400)
		if i%10 == 0 {
			text = strings.ReplaceAll(text, "\n", " ") // no line breaks at all
		}
		if i%17 == 0 {
			text = strings.Repeat("x", 50+rng.IntN(5000)) // no boundary at all
		}
		parts := splitContent(text, budget)
		total += len(parts)
		want, _ := PlanCalls(EstimateTokens(text), budget)
		if len(parts) != want {
			t.Fatalf("case %d: %d parts, PlanCalls says %d (len %d, budget %d)", i, len(parts), want, len(text), budget)
		}
		if strings.Join(parts, "") != text {
			t.Fatalf("case %d: parts do not reassemble the text", i)
		}
		hard := 3*budget + 3*budget/SplitHeadroom
		for j, p := range parts {
			if len(p) > hard {
				t.Fatalf("case %d part %d: %d bytes, over the hard limit %d", i, j, len(p), hard)
			}
			if p == "" || !utf8.ValidString(p) {
				t.Fatalf("case %d part %d: empty or cut inside a character: %q", i, j, p)
			}
			if j > 0 && i%17 != 0 {
				before, _ := utf8.DecodeLastRuneInString(parts[j-1])
				after, _ := utf8.DecodeRuneInString(p)
				if unicode.IsLetter(before) && unicode.IsLetter(after) {
					midWord++
				}
			}
		}
	}
	if midWord > 0 {
		t.Errorf("%d of %d cuts split a word although the text has spaces", midWord, total)
	}
}

func TestSplitContentPrefersTurnsThenSentences(t *testing.T) {
	t.Parallel()
	// Nine turns of 96 bytes, 300 bytes a part: each cut has a turn end in reach.
	turn := "Anna: " + strings.Repeat("We agreed on the plan. ", 4) // 6 + 92 bytes
	text := strings.TrimSpace(strings.Repeat(turn[:95]+"\n", 9))
	parts := splitContent(text, 100)
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	for i, p := range parts[1:] {
		if !strings.HasPrefix(p, "Anna: ") {
			t.Errorf("part %d does not start at a turn: %q", i+2, p[:20])
		}
	}

	// One long line: cuts fall after sentence ends.
	line := strings.TrimSpace(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20))
	parts = splitContent(line, 110)
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	for i, p := range parts[1:] {
		if !strings.HasPrefix(p, "The quick") {
			t.Errorf("part %d does not start at a sentence: %q", i+2, p[:20])
		}
	}
}
