package extract

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"recall/internal/recall"
)

// FuzzAnalyze feeds arbitrary titles and content to the analyzer and checks
// the promises every caller relies on: no panic, bounded lists, a summary
// whenever there is text to summarise, valid UTF-8, and the same answer
// twice.
func FuzzAnalyze(f *testing.F) {
	seeds := []string{
		"",
		"hello",
		" \n\t \r\n ",
		"[10:02]",
		"- [ ] x\n- [x] y\n## Action items\n- z",
		"Alice: I'll send the deck by Friday.\nBob: @alice can you also add the Q3 numbers?",
		"TODO(alice): fix it; Action item: Bob to book; AI: Carol - retro",
		"Dr. Smith paid $3.50 at 5 p.m., e.g. via https://pay.example.com/x.y. Done...",
		"今天开会。数据库迁移需要在周五之前完成。リリースの前にテストを実行してください。",
		"Wir müssen die Datenbank bis Freitag migrieren. Kannst du die Pipeline reparieren?",
		"مرحبا بالجميع. يجب أن ننهي ترحيل قاعدة البيانات قبل يوم الجمعة.",
		"caf\xc3 \xff\xfe I will fix it \x00 \u200b",
		"🎉🎉 🚀 ok!!!",
		"**Alice:** <bob> > > # # - - [ ] :::: ... ???",
		strings.Repeat("word ", 130),
	}
	if entries, err := os.ReadDir("testdata"); err == nil {
		for _, e := range entries {
			if data, err := os.ReadFile(filepath.Join("testdata", e.Name())); err == nil && !e.IsDir() && !strings.HasSuffix(e.Name(), ".json") {
				seeds = append(seeds, string(data))
			}
		}
	}
	for _, s := range seeds {
		f.Add("", s)
	}
	f.Add("Weekly sync", "We need to ship.")
	f.Fuzz(func(t *testing.T, title, content string) {
		got := analyze(title, content)
		checkAnalysis(t, content, got)
		if again := analyze(title, content); !equalAnalysis(got, again) {
			t.Errorf("not deterministic:\n%+v\n%+v", got, again)
		}
	})
}

// checkAnalysis asserts the invariants of any analysis of content.
func checkAnalysis(t *testing.T, content string, a recall.Analysis) {
	t.Helper()
	if a.Model != Model || a.Usage != (recall.Usage{}) || a.Calls != 0 {
		t.Errorf("model/usage = %q %+v %d", a.Model, a.Usage, a.Calls)
	}
	if strings.ContainsFunc(content, unicode.IsLetter) && a.Summary == "" {
		t.Errorf("empty summary for content with letters: %q", content)
	}
	if !utf8.ValidString(a.Summary) {
		t.Errorf("summary is not valid UTF-8: %q", a.Summary)
	}
	if n := utf8.RuneCountInString(a.Summary); n > 3*(maxSentenceRunes+1)+2 {
		t.Errorf("summary has %d runes", n)
	}
	if a.ActionItems == nil || a.Keywords == nil {
		t.Errorf("nil list in %+v", a)
	}
	if len(a.ActionItems) > MaxActionItems {
		t.Errorf("%d action items", len(a.ActionItems))
	}
	for _, it := range a.ActionItems {
		if strings.TrimSpace(it) == "" || !utf8.ValidString(it) || utf8.RuneCountInString(it) > MaxActionItemRunes {
			t.Errorf("bad action item %q", it)
		}
	}
	checkKeywords(t, a.Keywords)
	for _, k := range a.Keywords {
		if !utf8.ValidString(k) {
			t.Errorf("keyword %q is not valid UTF-8", k)
		}
	}
}
