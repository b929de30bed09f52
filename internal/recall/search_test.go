package recall_test

import (
	"reflect"
	"strings"
	"testing"

	"recall/internal/recall"
)

func TestParseQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want recall.Query
		err  string // code, "" for success
	}{
		{name: "words", in: "Postgres  upgrade", want: recall.Query{Words: []string{"Postgres", "upgrade"}}},
		{name: "phrase", in: `"migrate the push service" now`, want: recall.Query{Phrases: []string{"migrate the push service"}, Words: []string{"now"}}},
		{name: "phrase spaces folded", in: "\"a \n  b\"", want: recall.Query{Phrases: []string{"a b"}}},
		{name: "unclosed quote runs to end", in: `kafka "disk full`, want: recall.Query{Words: []string{"kafka"}, Phrases: []string{"disk full"}}},
		{name: "prefix", in: "migrat* plan", want: recall.Query{Prefixes: []string{"migrat"}, Words: []string{"plan"}}},
		{name: "short prefix is a word", in: "a* kafka", want: recall.Query{Words: []string{"a", "kafka"}}},
		{name: "exclusions", in: `postgres -rollback -"bob's notes"`, want: recall.Query{Words: []string{"postgres"}, Exclude: []string{"rollback", "bob's notes"}}},
		{name: "hyphen inside a word is not exclusion", in: "INC-4821", want: recall.Query{Words: []string{"INC-4821"}}},
		{name: "punctuation only is skipped", in: `kafka - * "" ...`, want: recall.Query{Words: []string{"kafka"}}},
		{name: "blank", in: "   ", err: recall.EINVALID},
		{name: "only exclusions", in: "-kafka -disk", err: recall.EINVALID},
		{name: "too long", in: strings.Repeat("é", recall.MaxQueryLen+1), err: recall.EINVALID},
		{name: "longest allowed", in: strings.Repeat("é", recall.MaxQueryLen), want: recall.Query{Words: []string{strings.Repeat("é", recall.MaxQueryLen)}}},
		{name: "invalid utf-8", in: "ka\xffka", err: recall.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := recall.ParseQuery(tt.in)
			if code := recall.ErrorCode(err); code != tt.err {
				t.Fatalf("ParseQuery(%q) error %v, want code %q", tt.in, err, tt.err)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseQuery(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if err != nil && !strings.Contains(recall.ErrorMessage(err), "q ") {
				t.Errorf("message %q does not name q", recall.ErrorMessage(err))
			}
		})
	}
}

func TestQueryPositive(t *testing.T) {
	t.Parallel()
	q, err := recall.ParseQuery(`migrat* "push service" -apns gateway`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := q.Positive(), "gateway push service migrat"; got != want {
		t.Errorf("Positive() = %q, want %q", got, want)
	}
}

func TestNormalizeLimit(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]int{0: recall.DefaultSearchLimit, -3: 1, 1: 1, 7: 7, 50: 50, 51: recall.MaxSearchLimit} {
		if got := recall.NormalizeLimit(in); got != want {
			t.Errorf("NormalizeLimit(%d) = %d, want %d", in, got, want)
		}
	}
}

// spansOf marks every occurrence of each word in text.
func spansOf(text string, words ...string) []recall.Span {
	var out []recall.Span
	for _, w := range words {
		for i := 0; ; {
			j := strings.Index(text[i:], w)
			if j < 0 {
				break
			}
			out = append(out, recall.Span{Start: i + j, End: i + j + len(w)})
			i += j + len(w)
		}
	}
	return out
}

func TestHighlight(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("filler words go here and there. ", 20)
	tests := []struct {
		name  string
		text  string
		spans []recall.Span
		n     int
		want  []string
	}{
		{
			name:  "escapes everything and adds only mark",
			text:  `<b>we</b> need to "migrate" the push & service`,
			spans: spansOf(`<b>we</b> need to "migrate" the push & service`, "migrate", "push"),
			n:     3,
			want:  []string{`&lt;b&gt;we&lt;/b&gt; need to &#34;<mark>migrate</mark>&#34; the <mark>push</mark> &amp; service`},
		},
		{
			name:  "cut marked with ellipses, white space folded",
			text:  long + "we need to\n\nmigrate the push service " + long,
			spans: spansOf(long+"we need to\n\nmigrate the push service "+long, "migrate"),
			n:     1,
		},
		{
			name:  "no spans, no highlights",
			text:  "nothing matched",
			spans: nil,
			n:     3,
			want:  nil,
		},
		{
			name:  "out of range and mid-rune spans dropped",
			text:  "café crème",
			spans: []recall.Span{{Start: 4, End: 5}, {Start: 6, End: 99}, {Start: 0, End: 5}},
			n:     3,
			want:  []string{"<mark>café</mark> crème"},
		},
		{
			name:  "overlapping spans merged",
			text:  "postgres upgrade",
			spans: []recall.Span{{Start: 0, End: 8}, {Start: 4, End: 16}},
			n:     3,
			want:  []string{"<mark>postgres upgrade</mark>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := recall.Highlight(tt.text, tt.spans, tt.n, recall.HighlightSize)
			if tt.want != nil || len(tt.spans) == 0 {
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Highlight = %q, want %q", got, tt.want)
				}
				return
			}
			if len(got) != tt.n {
				t.Fatalf("got %d fragments %q, want %d", len(got), got, tt.n)
			}
			for _, f := range got {
				if !strings.HasPrefix(f, "…") || !strings.HasSuffix(f, "…") {
					t.Errorf("fragment %q: a cut passage must start and end with …", f)
				}
				if strings.Contains(f, "\n") || strings.Contains(f, "  ") {
					t.Errorf("fragment %q: white space not folded", f)
				}
				if n := len([]rune(f)); n > recall.HighlightSize+40 {
					t.Errorf("fragment %q is %d characters, want about %d", f, n, recall.HighlightSize)
				}
				if !strings.Contains(f, "<mark>migrate</mark>") {
					t.Errorf("fragment %q lacks the match", f)
				}
			}
		})
	}
}

func TestHighlightPrefersDistinctTerms(t *testing.T) {
	t.Parallel()
	filler := strings.Repeat("lorem ipsum dolor sit amet. ", 12)
	text := "kafka kafka kafka " + filler + "the kafka broker ran out of disk " + filler + "kafka"
	got := recall.Highlight(text, spansOf(text, "kafka", "disk"), 1, recall.HighlightSize)
	if len(got) != 1 || !strings.Contains(got[0], "<mark>disk</mark>") || !strings.Contains(got[0], "<mark>kafka</mark> broker") {
		t.Errorf("best passage %q should hold both kafka and disk", got)
	}
	all := recall.Highlight(text, spansOf(text, "kafka", "disk"), 3, recall.HighlightSize)
	if len(all) < 2 {
		t.Fatalf("got %d passages, want several", len(all))
	}
	plain := func(f string) string {
		f = strings.ReplaceAll(strings.ReplaceAll(f, "<mark>", ""), "</mark>", "")
		return strings.Trim(f, "…")
	}
	last := -1
	for _, f := range all {
		at := strings.Index(text, plain(f))
		if at < 0 {
			t.Fatalf("passage %q is not a piece of the text", f)
		}
		if at <= last {
			t.Errorf("passages not in text order: %q", all)
		}
		last = at
	}
}
