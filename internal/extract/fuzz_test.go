package extract

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"recall/internal/duedate"
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
	in := func(title, content string) recall.AnalysisInput {
		return recall.AnalysisInput{Title: title, Content: content, CreatedAt: time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)}
	}
	dates := duedate.Options{Location: time.FixedZone("fuzz", 3600), Order: duedate.DMY}
	f.Fuzz(func(t *testing.T, title, content string) {
		got := analyzeInput(in(title, content), dates)
		checkAnalysis(t, content, got)
		if again := analyzeInput(in(title, content), dates); !equalAnalysis(got, again) {
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
	if a.Items == nil || len(a.Items) > MaxItems {
		t.Errorf("items: nil or %d of them", len(a.Items))
	}
	ids := map[string]bool{}
	for _, it := range a.Items {
		if strings.TrimSpace(it.Text) == "" || !utf8.ValidString(it.Text) || utf8.RuneCountInString(it.Text) > MaxActionItemRunes {
			t.Errorf("bad item text %q", it.Text)
		}
		if it.ID != recall.ItemID(it.Text) || ids[it.ID] {
			t.Errorf("item %q: id %q is not its own or repeats", it.Text, it.ID)
		}
		ids[it.ID] = true
		if it.Owner != nil && (strings.TrimSpace(*it.Owner) == "" || !utf8.ValidString(*it.Owner)) {
			t.Errorf("item %q: bad owner %q", it.Text, *it.Owner)
		}
		if it.Due != nil && !it.Due.Valid() {
			t.Errorf("item %q: invalid due %+v", it.Text, *it.Due)
		}
		if it.Done || it.DoneAt != nil {
			t.Errorf("item %q: an analysis never ticks an item off", it.Text)
		}
	}
	checkKeywords(t, a.Keywords)
	for _, k := range a.Keywords {
		if !utf8.ValidString(k) {
			t.Errorf("keyword %q is not valid UTF-8", k)
		}
	}
}
