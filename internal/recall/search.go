package recall

import (
	"context"
	"html"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Index keeps conversations findable by their owner. Every implementation
// answers the same query language (see ParseQuery), keeps owners apart in
// the query itself (never by filtering a page afterwards), and returns
// conversation IDs, not conversations: the Service loads each hit from the
// Store, so a result shows the conversation as GET returns it and a hit for
// a conversation deleted since is dropped.
type Index interface {
	// Index makes c findable by c.Owner under its title, content, summary,
	// action items and keywords, replacing whatever was indexed for c.ID
	// before. Indexing the same conversation twice is harmless.
	// EUNAVAILABLE or ETHROTTLED when a dependency fails; the caller retries.
	Index(ctx context.Context, c *Conversation) error

	// Delete removes conversation id of owner from the index. Deleting one
	// that is not indexed (or is another owner's) succeeds and changes
	// nothing.
	Delete(ctx context.Context, owner, id string) error

	// Search returns owner's conversations matching q, best first.
	// EINVALID for a query ParseQuery refuses or a cursor this index did
	// not hand out; EUNAVAILABLE or ETHROTTLED when a dependency fails.
	Search(ctx context.Context, owner string, q SearchQuery) (SearchPage, error)

	// Ping checks the index answers, cheaply, for health checks.
	Ping(ctx context.Context) error
}

// Limits of a search request, enforced by ParseQuery and NormalizeLimit so
// every index and the HTTP layer agree.
const (
	// MaxQueryLen is the longest query text, in characters.
	MaxQueryLen = 500
	// DefaultSearchLimit is the page size when the caller names none.
	DefaultSearchLimit = 10
	// MaxSearchLimit is the largest page a caller may ask for.
	MaxSearchLimit = 50
	// HighlightFragments and HighlightSize shape SearchHit.Highlights: at
	// most this many fragments of about this many characters.
	HighlightFragments = 3
	HighlightSize      = 150
)

// SearchQuery is one page of a search.
type SearchQuery struct {
	// Text is the query as the person typed it (see ParseQuery).
	Text string
	// Limit is the most hits to return; NormalizeLimit applies.
	Limit int
	// After resumes a search after the page that returned it as Next;
	// "" for the first page. It is the index's own cursor: the Service
	// binds it to the owner before handing it to a client.
	After string
}

// NormalizeLimit returns n, DefaultSearchLimit for 0, and clamps to
// [1, MaxSearchLimit]. The HTTP layer refuses out-of-range limits with 400
// before they get here; indexes clamp so a direct caller cannot ask for a
// page of a million.
func NormalizeLimit(n int) int {
	switch {
	case n == 0:
		return DefaultSearchLimit
	case n < 1:
		return 1
	case n > MaxSearchLimit:
		return MaxSearchLimit
	}
	return n
}

// SearchHit is one conversation a search found.
type SearchHit struct {
	ID string
	// Score is the hit's relevance in [0, 1], higher is better. It orders
	// the hits of one search; it is not comparable across searches or
	// indexes.
	Score float64
	// Highlights are up to HighlightFragments passages of the conversation
	// where the query matched: HTML-escaped text in which only the
	// matched words are wrapped in <mark>…</mark>. A cut is marked "…".
	Highlights []string
}

// SearchPage is one page of hits.
type SearchPage struct {
	Hits []SearchHit
	// Next resumes the search after this page (SearchQuery.After); "" when
	// there is nothing more.
	Next string
}

// Query is a search text taken apart, as ParseQuery does it. The parts are
// raw text: each index lower-cases, stems and tokenises them its own way.
type Query struct {
	// Words should all match (ranked above conversations matching only
	// some of them, where an index can find those at all).
	Words []string
	// Phrases ("exact phrase") must each match as consecutive words.
	Phrases []string
	// Prefixes (plan*) must each match a word starting with them; the star
	// is not included.
	Prefixes []string
	// Exclude (-word, -"a phrase") must not match.
	Exclude []string
}

// minPrefix is the shortest prefix* taken as a prefix: a one-letter prefix
// would match most of the vocabulary, so "a*" is read as the word "a".
const minPrefix = 2

// ParseQuery reads the query language people already know from web search:
//
//	words            all should match, best first
//	"exact phrase"   these words, together, in this order
//	prefix*          any word starting with prefix (at least 2 letters)
//	-word -"phrase"  conversations containing it are left out
//
// Case and common inflections do not matter (plan, plans, planning); that is
// the index's analysis, not the parser's. An unclosed quote runs to the end.
// EINVALID, naming q, for a blank query, one longer than MaxQueryLen, or
// one with nothing to look for (only exclusions).
func ParseQuery(text string) (Query, error) {
	if utf8.RuneCountInString(text) > MaxQueryLen {
		return Query{}, Errorf(EINVALID, "q must be at most %d characters", MaxQueryLen)
	}
	if !utf8.ValidString(text) {
		return Query{}, Errorf(EINVALID, "q must be valid UTF-8")
	}
	var q Query
	rest := text
	for {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			break
		}
		neg := false
		if strings.HasPrefix(rest, "-") {
			neg, rest = true, rest[1:]
		}
		var term string
		phrase := false
		if strings.HasPrefix(rest, `"`) {
			phrase = true
			body, after, closed := strings.Cut(rest[1:], `"`)
			term, rest = body, after
			if !closed {
				rest = ""
			}
		} else {
			end := strings.IndexFunc(rest, unicode.IsSpace)
			if end < 0 {
				end = len(rest)
			}
			term, rest = rest[:end], rest[end:]
		}
		term = strings.Join(strings.Fields(term), " ")
		if !hasWordChar(term) {
			continue
		}
		switch {
		case neg:
			q.Exclude = append(q.Exclude, term)
		case phrase:
			q.Phrases = append(q.Phrases, term)
		case strings.HasSuffix(term, "*"):
			p := strings.TrimRight(term, "*")
			if utf8.RuneCountInString(p) >= minPrefix && hasWordChar(p) {
				q.Prefixes = append(q.Prefixes, p)
			} else {
				q.Words = append(q.Words, p)
			}
		default:
			q.Words = append(q.Words, term)
		}
	}
	if q.Empty() {
		if len(q.Exclude) > 0 {
			return Query{}, Errorf(EINVALID, "q must contain a word to look for, not only -excluded ones")
		}
		return Query{}, Errorf(EINVALID, "q must contain a word to look for")
	}
	return q, nil
}

// Empty reports whether q has nothing to look for.
func (q Query) Empty() bool {
	return len(q.Words) == 0 && len(q.Phrases) == 0 && len(q.Prefixes) == 0
}

// Positive is everything q looks for as one line of text (words, phrases,
// prefixes without their stars), for an index that reads a query as meaning
// rather than as terms.
func (q Query) Positive() string {
	parts := slices.Concat(q.Words, q.Phrases, q.Prefixes)
	return strings.Join(parts, " ")
}

func hasWordChar(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// Span is the byte range [Start, End) of a match in a text.
type Span struct{ Start, End int }

// Highlight renders up to n passages of text, each about size characters,
// around the spans that matched: the passages holding the most distinct
// matched words first, then in text order. The text is HTML-escaped and only
// <mark>…</mark> is added, around each span; runs of white space become one
// space and a cut is marked "…". Spans that overlap or are out of range are
// merged or dropped. It is the one rendering every index uses, so highlights
// look and escape the same whatever found them.
func Highlight(text string, spans []Span, n, size int) []string {
	spans = cleanSpans(text, spans)
	if len(spans) == 0 || n <= 0 {
		return nil
	}
	if size < 20 {
		size = 20
	}
	chosen := choosePassages(text, spans, n, size)
	slices.SortFunc(chosen, func(a, b passage) int { return a.start - b.start })
	out := make([]string, 0, len(chosen))
	for _, p := range chosen {
		out = append(out, renderPassage(text, spans, p))
	}
	return out
}

// passage is the byte range [start, end) of text one highlight shows.
type passage struct{ start, end int }

// choosePassages picks up to n passages, greedily: each time the one,
// around a span not yet shown, holding the most distinct matched words
// (then the most matches). Spans a pick covers are not counted again, so
// the next pick shows other words; a pick overlapping an earlier one is
// dropped rather than shown twice.
func choosePassages(text string, spans []Span, n, size int) []passage {
	var chosen []passage
	used := make([]bool, len(spans))
	for len(chosen) < n {
		best, bestScore := -1, 0
		var bestWin passage
		for i, sp := range spans {
			if used[i] {
				continue
			}
			w := passageAround(text, sp, size)
			if s := passageScore(text, spans, used, w); s > bestScore {
				best, bestScore, bestWin = i, s, w
			}
		}
		if best < 0 {
			break
		}
		overlaps := false
		for _, c := range chosen {
			if bestWin.start < c.end && c.start < bestWin.end {
				overlaps = true
			}
		}
		for j, o := range spans {
			if o.Start >= bestWin.start && o.End <= bestWin.end {
				used[j] = true
			}
		}
		used[best] = true
		if !overlaps {
			chosen = append(chosen, bestWin)
		}
	}
	return chosen
}

// passageAround is the passage of about size characters around sp, with
// sp a third of the way in so the reader sees what leads up to the match,
// widened to hold all of sp and snapped to word boundaries.
func passageAround(text string, sp Span, size int) passage {
	lead := (size - utf8.RuneCountInString(text[sp.Start:sp.End])) / 3
	w := passage{start: backRunes(text, sp.Start, max(lead, 0))}
	w.end = forwardRunes(text, w.start, size)
	if w.end < sp.End {
		w.end = sp.End
	}
	w.start, w.end = snapStart(text, w.start, sp.Start), snapEnd(text, w.end, sp.End)
	return w
}

// passageScore ranks a passage by the unused spans it holds: distinct
// words (case folded) first, so a passage showing two query words beats
// one repeating a single word, then the count of matches.
func passageScore(text string, spans []Span, used []bool, w passage) int {
	distinct := map[string]bool{}
	count := 0
	for j, o := range spans {
		if !used[j] && o.Start >= w.start && o.End <= w.end {
			distinct[strings.ToLower(text[o.Start:o.End])] = true
			count++
		}
	}
	return len(distinct)*100 + count
}

// renderPassage writes passage p of text as HTML: escaped, flattened, each
// span inside it marked, and "…" where it cuts the text.
func renderPassage(text string, spans []Span, p passage) string {
	var b strings.Builder
	if p.start > 0 {
		b.WriteString("…")
	}
	at := p.start
	for _, sp := range spans {
		if sp.Start < p.start || sp.End > p.end {
			continue
		}
		b.WriteString(escapeFlat(text[at:sp.Start]))
		b.WriteString("<mark>")
		b.WriteString(escapeFlat(text[sp.Start:sp.End]))
		b.WriteString("</mark>")
		at = sp.End
	}
	b.WriteString(escapeFlat(text[at:p.end]))
	if p.end < len(text) {
		b.WriteString("…")
	}
	return strings.TrimSpace(b.String())
}

// cleanSpans sorts spans, drops empty or out-of-range ones and those not on
// character boundaries, and merges overlapping or touching ones.
func cleanSpans(text string, spans []Span) []Span {
	var ok []Span
	for _, s := range spans {
		if s.Start < 0 || s.End > len(text) || s.Start >= s.End ||
			!utf8.RuneStart(text[s.Start]) || (s.End < len(text) && !utf8.RuneStart(text[s.End])) {
			continue
		}
		ok = append(ok, s)
	}
	slices.SortFunc(ok, func(a, b Span) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return a.End - b.End
	})
	var out []Span
	for _, s := range ok {
		if n := len(out); n > 0 && s.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}

// backRunes moves i back by up to n characters.
func backRunes(text string, i, n int) int {
	for ; n > 0 && i > 0; n-- {
		_, size := utf8.DecodeLastRuneInString(text[:i])
		i -= size
	}
	return i
}

// forwardRunes moves i forward by up to n characters.
func forwardRunes(text string, i, n int) int {
	for ; n > 0 && i < len(text); n-- {
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	return i
}

// snapStart moves a passage start forward to the start of a word, so a
// passage does not open on half a word, without passing limit.
func snapStart(text string, start, limit int) int {
	if start == 0 {
		return 0
	}
	if r, _ := utf8.DecodeLastRuneInString(text[:start]); unicode.IsSpace(r) {
		return start
	}
	if i := strings.IndexFunc(text[start:limit], unicode.IsSpace); i >= 0 {
		return start + i + 1
	}
	return start
}

// snapEnd moves a passage end back to the end of a word, not before limit.
func snapEnd(text string, end, limit int) int {
	if end >= len(text) {
		return len(text)
	}
	if r, _ := utf8.DecodeRuneInString(text[end:]); unicode.IsSpace(r) {
		return end
	}
	if i := strings.LastIndexFunc(text[limit:end], unicode.IsSpace); i >= 0 {
		return limit + i
	}
	return end
}

// escapeFlat HTML-escapes s and folds each run of white space into one
// space, so a passage reads as one line.
func escapeFlat(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	if space {
		b.WriteByte(' ')
	}
	return html.EscapeString(b.String())
}
