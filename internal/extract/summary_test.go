package extract

import (
	"strings"
	"testing"

	"recall/internal/recall"
)

func TestSummaryLengthGrowsWithContent(t *testing.T) {
	t.Parallel()
	short := "The billing export failed overnight because the disk filled up."
	long := conversation2KB(t)
	if got := analyze("", short).Summary; got != short {
		t.Errorf("summary of one sentence = %q, want the sentence itself", got)
	}
	got := analyze("", long).Summary
	if n := len(splitSentences(got)); n != 3 {
		t.Errorf("summary of a 2 KB chat has %d sentences, want 3: %q", n, got)
	}
}

func TestSummaryKeepsOriginalOrder(t *testing.T) {
	t.Parallel()
	content := conversation2KB(t)
	summary := analyze("", content).Summary
	last := -1
	for _, s := range splitSentences(summary) {
		// Compare without the first letter and final period, which the
		// summary may have tidied.
		core := strings.TrimSuffix(s[1:], ".")
		at := strings.Index(content, core)
		if at < 0 {
			t.Fatalf("summary sentence %q is not in the content", s)
		}
		if at < last {
			t.Errorf("summary sentences out of order: %q", summary)
		}
		last = at
	}
}

func TestSummaryFollowsTitle(t *testing.T) {
	t.Parallel()
	content := "The billing export is slow on Mondays.\nThe search index is stale after the outage.\nBoth teams met on Tuesday to compare notes."
	tests := []struct{ title, want string }{
		{"Search outage", "The search index is stale after the outage."},
		{"Billing export", "The billing export is slow on Mondays."},
	}
	for _, tt := range tests {
		if got := analyze(tt.title, content).Summary; got != tt.want {
			t.Errorf("title %q: summary = %q, want %q", tt.title, got, tt.want)
		}
	}
}

func TestSummaryTidiesChat(t *testing.T) {
	t.Parallel()
	got := analyze("", "[10:02] Sam: ok so the export job is failing on every retry").Summary
	if want := "The export job is failing on every retry."; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestAnalyzeEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		summary string // exact, when not empty
	}{
		{"single word", "hello", "Hello."},
		{"whitespace only", " \n\t \r\n  \u200b ", ""},
		{"punctuation only", "... !!! ??? ---", ""},
		{"timestamp only", "[10:02]", ""},
		{"emoji only", "🎉🎉 🚀", ""},
		{"no punctuation", "we went over the migration plan and bob will update the runbook", "We went over the migration plan and bob will update the runbook."},
		{"heading only", "# Q3 planning", "Q3 planning."},
		{"german", "Wir müssen die Datenbank bis Freitag migrieren. Die Migration der Datenbank ist für das Release wichtig. Anna hat die Tests geschrieben.", ""},
		{"japanese", "今日の会議では新しいリリースについて話し合いました。リリースの前にテストを実行してください。", ""},
		{"arabic", "مرحبا بالجميع. يجب أن ننهي ترحيل قاعدة البيانات قبل يوم الجمعة.", ""},
		{"invalid utf-8", "caf\xc3 \xff\xfe the deploy \x00 is done", ""},
		{"run-on line", strings.Repeat("the deploy pipeline is slow and flaky ", 2700), ""},
		{"100 KB chat", longConversation(recall.MaxContentChars), ""},
		{"100 KB of one letter", strings.Repeat("a ", recall.MaxContentChars/2), ""},
		{"100 KB of newlines", strings.Repeat("\n", recall.MaxContentChars), ""},
		{"100 KB of checkboxes", strings.Repeat("- [ ] x\n", recall.MaxContentChars/8), ""},
		{"100 KB of chinese", strings.Repeat("数据库迁移需要在周五之前完成。", recall.MaxContentChars/15), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := analyze("", tt.in)
			checkAnalysis(t, tt.in, got)
			if tt.summary != "" && got.Summary != tt.summary {
				t.Errorf("summary = %q, want %q", got.Summary, tt.summary)
			}
			if n := len(splitSentences(got.Summary)); n > 3 {
				t.Errorf("summary has %d sentences: %q", n, got.Summary)
			}
		})
	}
}

func TestAnalyzeFindsKeywordsInOtherLanguages(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Wir müssen die Datenbank bis Freitag migrieren. Die Datenbank ist für das Release wichtig. Die Datenbank ist alt.", "datenbank"},
		{"Necesitamos terminar la migración antes del viernes. La migración es importante. Juan revisa la migración.", "migración"},
		{"リリースの前にテストを実行してください。新しいリリースは金曜日です。", "リリース"},
	}
	for _, tt := range tests {
		got := analyze("", tt.in).Keywords
		if len(got) == 0 || got[0] != tt.want {
			t.Errorf("keywords of %q = %q, want %q first", tt.in, got, tt.want)
		}
		for _, k := range got {
			if has(foreignStop["de"], k) || has(foreignStop["es"], k) {
				t.Errorf("keywords of %q include the function word %q", tt.in, k)
			}
		}
	}
}
