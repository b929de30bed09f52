package extract

import (
	"slices"
	"strings"
	"testing"
)

func TestSplitSentences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"two sentences", "The deploy failed. We rolled back.", []string{"The deploy failed.", "We rolled back."}},
		{"title abbreviation", "Dr. Smith reviewed it. Mr. Jones agreed.", []string{"Dr. Smith reviewed it.", "Mr. Jones agreed."}},
		{"e.g. and i.e.", "Add signals, e.g. logs and traces, i.e. the basics. Then ship.", []string{"Add signals, e.g. logs and traces, i.e. the basics.", "Then ship."}},
		{"E.g. capitalised", "Use a queue. E.g. Redis works. Done.", []string{"Use a queue.", "E.g. Redis works.", "Done."}},
		{"decimals", "Latency went from 3.5s to 1.2s. Good news.", []string{"Latency went from 3.5s to 1.2s.", "Good news."}},
		{"money and versions", "It costs $3.50 in v1.2.3 now. Upgrade.", []string{"It costs $3.50 in v1.2.3 now.", "Upgrade."}},
		{"url inside", "See https://example.com/a.b?x=1 for details. Next one.", []string{"See https://example.com/a.b?x=1 for details.", "Next one."}},
		{"url at the end", "Docs are at https://example.com/docs. Read them.", []string{"Docs are at https://example.com/docs.", "Read them."}},
		{"domain", "Mail goes through example.com today", []string{"Mail goes through example.com today"}},
		{"question and exclamation", "Is it down? Yes! Restart it.", []string{"Is it down?", "Yes!", "Restart it."}},
		{"lower-case chat", "ok. i will do it. thanks", []string{"ok.", "i will do it.", "thanks"}},
		{"etc. mid-sentence", "Apples, pears etc. are fine.", []string{"Apples, pears etc. are fine."}},
		{"etc. at the end", "Apples, pears etc. The rest waits.", []string{"Apples, pears etc.", "The rest waits."}},
		{"p.m. mid-sentence", "Meet at 5 p.m. tomorrow.", []string{"Meet at 5 p.m. tomorrow."}},
		{"no. before a digit", "See ticket no. 42 first.", []string{"See ticket no. 42 first."}},
		{"initials", "J. R. R. Tolkien wrote it.", []string{"J. R. R. Tolkien wrote it."}},
		{"quote after the period", `He said "stop." Then he left.`, []string{`He said "stop."`, "Then he left."}},
		{"ellipsis trailing off", "Wait... what happened?", []string{"Wait... what happened?"}},
		{"ellipsis then a sentence", "Hmm... I think so.", []string{"Hmm...", "I think so."}},
		{"repeated punctuation", "Really?! No way.", []string{"Really?!", "No way."}},
		{"cjk", "今天开会。明天发布！好吗？", []string{"今天开会。", "明天发布！", "好吗？"}},
		{"no punctuation", "we talked about the plan", []string{"we talked about the plan"}},
		{"punctuation only", "... !!! ?", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := splitSentences(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("splitSentences(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitSentencesChunksRunOns(t *testing.T) {
	t.Parallel()
	words := make([]string, 100)
	for i := range words {
		words[i] = "word"
	}
	got := splitSentences(strings.Join(words, " "))
	if len(got) != 3 {
		t.Fatalf("100 words without punctuation gave %d chunks, want 3 (40+40+20)", len(got))
	}
	for i, want := range []int{chunkWords, chunkWords, 100 - 2*chunkWords} {
		if n := len(strings.Fields(got[i])); n != want {
			t.Errorf("chunk %d has %d words, want %d", i, n, want)
		}
	}
	if got := splitSentences(strings.Join(words[:maxSentenceWords], " ")); len(got) != 1 {
		t.Errorf("a %d-word sentence was cut into %d", maxSentenceWords, len(got))
	}
}
