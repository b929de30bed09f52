package hybrid

import (
	"slices"
	"strings"
	"unicode"

	porterstemmer "github.com/blevesearch/go-porterstemmer"

	"recall/internal/recall"
)

// MaxTerms bounds the keyword terms kept per conversation: each is one
// item in the keyword index (a write each, on DynamoDB), and past a few
// hundred distinct words a transcript's rarer words are what the semantic
// side finds anyway.
const MaxTerms = 300

// written marks a word kept as written beside its stem, for prefix*
// queries ("plann*" must find "planning", stored as "plan").
const written = "="

// stopwords are left out of terms and queries: they match everything.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be but by for from has have he her his i if in into is it its
		me my no not of on or our she so than that the their them then there these they this to us was we were what when
		where which who will with would you your`) {
		m[w] = true
	}
	return m
}()

// token is one word of a text: its byte range, lower-cased form and stem.
type token struct {
	start, end int
	lower      string
	stem       string
}

// tokenize splits text into runs of letters and digits, dropping stop
// words and single characters.
func tokenize(text string) []token {
	var out []token
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		lower := strings.ToLower(text[start:end])
		if len([]rune(lower)) > 1 && !stopwords[lower] {
			out = append(out, token{start: start, end: end, lower: lower, stem: porterstemmer.StemString(lower)})
		}
		start = -1
	}
	for i, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(text))
	return out
}

// stems returns the stems of text's words, in order.
func stems(text string) []string {
	toks := tokenize(text)
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = t.stem
	}
	return out
}

// fields are the searchable texts of c, most telling first.
func fields(c *recall.Conversation) []string {
	return []string{c.Title, c.Summary, strings.Join(c.Keywords, "; "), strings.Join(c.ActionItems, "; "), c.Content}
}

// Terms is what the keyword index holds for c: the distinct stems of its
// words, and each word as written (marked) where the stem differs, title
// and analysis first, up to MaxTerms. It is the one statement of what makes
// a conversation findable by keyword on AWS.
func Terms(c *recall.Conversation) []string {
	seen := map[string]bool{}
	var out []string
	add := func(t string) {
		if !seen[t] && len(out) < MaxTerms {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, f := range fields(c) {
		for _, t := range tokenize(f) {
			add(t.stem)
			if t.lower != t.stem {
				add(written + t.lower)
			}
		}
	}
	return out
}

// containsPhrase reports whether the stems of phrase occur consecutively
// (stop words aside) in s, the stems of a text.
func containsPhrase(s []string, phrase []string) bool {
	if len(phrase) == 0 {
		return false
	}
	for i := 0; i+len(phrase) <= len(s); i++ {
		if slices.Equal(s[i:i+len(phrase)], phrase) {
			return true
		}
	}
	return false
}
