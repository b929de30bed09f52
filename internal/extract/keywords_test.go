package extract

import (
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestKeywords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		title   string
		in      string
		want    []string // must all be present
		exclude []string // must all be absent
	}{
		{
			name:    "chat filler and stop words",
			in:      "Sam: yeah ok thanks, just like the migration\nAli: okay cool, hi, the migration is fine lol\nSam: yep thx, migration done",
			want:    []string{"migration"},
			exclude: []string{"yeah", "ok", "okay", "thanks", "thx", "just", "like", "cool", "hi", "lol", "yep", "the", "is", "fine"},
		},
		{
			name:    "speakers and mentions are not topics",
			in:      "Priya: the webhook is failing\nMarco: @dana can you check the webhook?\nPriya: webhook retries are off",
			want:    []string{"webhook"},
			exclude: []string{"priya", "marco", "dana", "@dana"},
		},
		{
			name:    "no pure numbers, timestamps or urls",
			in:      "[10:02] Ana: error 502 on 2024-03-04, see https://status.example.com/incidents/42 and ticket #4821.\n[10:03] Bo: the 502 errors are from the gateway",
			want:    []string{"gateway"},
			exclude: []string{"502", "10", "2024", "42", "4821", "https", "status.example.com"},
		},
		{
			name: "recurring phrase beats its words",
			in:   "The refund service is slow. We profiled the refund service. The refund service needs caching. Caching is hard.",
			want: []string{"refund service", "caching"},
			// "refund" and "service" alone are contained in the phrase.
			exclude: []string{"refund", "service"},
		},
		{
			name:  "title words count",
			title: "Kafka upgrade",
			in:    "We talked about brokers. The upgrade needs a maintenance window. Kafka brokers restart one at a time.",
			want:  []string{"kafka upgrade", "brokers"},
		},
		{
			name:    "inflections are one keyword",
			in:      "Deploys keep failing. The deploy at noon broke. Deploying on Fridays is risky.",
			want:    []string{"deploy"},
			exclude: []string{"deploys", "deploying"},
		},
		{
			name:    "weekdays and generic verbs are not topics",
			in:      "On Monday I'll send the report. On Tuesday we check the report and make the report better.",
			want:    []string{"report"},
			exclude: []string{"monday", "tuesday", "send", "check", "make"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := analyze(tt.title, tt.in).Keywords
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("keywords %q lack %q", got, w)
				}
			}
			for _, w := range tt.exclude {
				if slices.Contains(got, w) {
					t.Errorf("keywords %q include %q", got, w)
				}
			}
			checkKeywords(t, got)
		})
	}
}

// checkKeywords asserts what every keyword list must satisfy.
func checkKeywords(t *testing.T, kws []string) {
	t.Helper()
	if len(kws) > MaxKeywords {
		t.Errorf("%d keywords, want at most %d", len(kws), MaxKeywords)
	}
	seen := map[string]bool{}
	for _, k := range kws {
		if seen[k] {
			t.Errorf("keyword %q repeated in %q", k, kws)
		}
		seen[k] = true
		if k != strings.ToLower(k) {
			t.Errorf("keyword %q is not lower case", k)
		}
		if !strings.ContainsFunc(k, unicode.IsLetter) {
			t.Errorf("keyword %q has no letter", k)
		}
		for _, w := range strings.Fields(k) {
			if has(englishStop, w) {
				t.Errorf("keyword %q contains the stop word %q", k, w)
			}
		}
	}
}

func TestStopWordsAreLowerCaseAndStemStable(t *testing.T) {
	t.Parallel()
	for _, set := range []map[string]struct{}{englishStop, keywordSkip, actionVerbs, fillerWords, metaLabels} {
		for w := range set {
			if w != strings.ToLower(w) {
				t.Errorf("word list entry %q is not lower case and can never match", w)
			}
		}
	}
}

func TestStem(t *testing.T) {
	t.Parallel()
	groups := [][]string{
		{"deploy", "deploys", "deployed", "deploying"},
		{"update", "updates", "updated", "updating"},
		{"query", "queries"},
		{"run", "running"},
		{"plan", "planned", "planning", "plans"},
		{"invoice", "invoices", "invoiced"},
	}
	for _, g := range groups {
		for _, w := range g[1:] {
			if stem(w) != stem(g[0]) {
				t.Errorf("stem(%q) = %q, stem(%q) = %q; want equal", w, stem(w), g[0], stem(g[0]))
			}
		}
	}
	for _, pair := range [][2]string{{"status", "stat"}, {"bus", "bu"}, {"analysis", "analys"}} {
		if stem(pair[0]) == stem(pair[1]) {
			t.Errorf("stem(%q) == stem(%q): distinct words merged", pair[0], pair[1])
		}
	}
}
