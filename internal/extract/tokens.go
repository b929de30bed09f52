package extract

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// token is one word of a sentence, normalised for matching.
type token struct {
	norm    string // lower case, curly apostrophes made straight
	stem    string // norm with common English inflections removed
	brk     bool   // punctuation (or a URL) stands between this and the previous token
	cap     bool   // the word started with an upper-case letter
	mention bool   // the word was written as @name
	tag     bool   // the word was written as #name: a channel or ticket, not a topic
	cjk     bool   // a character bigram from a script written without spaces
	letter  bool   // the word has at least one letter
	stop    bool   // no content: a function word, a number, an identifier
	skip    bool   // not keyword material (stop words, names, generic verbs, labels)
	label   bool   // part of a line's label ("Decision:"), not of what it says
}

// tokenize splits s into words. URLs and e-mail addresses are skipped (they
// are not topics) but break keyword phrases. Runs of Han, Kana and Thai,
// which are written without spaces, become overlapping character bigrams so
// that similarity and keywords still have something to count.
func tokenize(s string) []token {
	var toks []token
	brk := false
	for field := range strings.FieldsSeq(s) {
		if isLinkLike(field) {
			brk = true
			continue
		}
		toks, brk = tokenizeField(toks, field, brk)
	}
	return toks
}

// isLinkLike reports whether a whitespace-separated field is a URL or an
// e-mail address.
func isLinkLike(f string) bool {
	if strings.Contains(f, "://") || strings.HasPrefix(f, "www.") {
		return true
	}
	at := strings.IndexByte(f, '@')
	return at > 0 && strings.IndexByte(f[at:], '.') > 0
}

func tokenizeField(toks []token, f string, brk bool) ([]token, bool) {
	start := -1 // byte offset of the current word in f
	mention, tag := false, false
	cjkStart := -1 // byte offset of the current run of unspaced script
	flushWord := func(end int) {
		if start < 0 {
			return
		}
		tok := makeToken(f[start:end], brk, mention)
		tok.tag = tag
		toks = append(toks, tok)
		brk, mention, tag, start = false, false, false, -1
	}
	flushCJK := func(end int) {
		if cjkStart < 0 {
			return
		}
		toks = appendBigrams(toks, f[cjkStart:end], brk)
		brk, cjkStart = false, -1
	}
	for i := 0; i < len(f); {
		r, size := utf8.DecodeRuneInString(f[i:])
		switch {
		case isUnspaced(r):
			flushWord(i)
			if cjkStart < 0 {
				cjkStart = i
			}
		case isWordRune(r):
			flushCJK(i)
			if start < 0 {
				start = i
			}
		case start >= 0 && isJoiner(r) && i+size < len(f) && followsWordRune(f[i+size:]):
			// inside a word: don't, co-founder, v1.2, node.js, snake_case
		default:
			flushWord(i)
			flushCJK(i)
			switch r {
			case '@':
				mention = true
			case '#':
				tag = true
			default:
				brk, mention, tag = true, false, false
			}
		}
		i += size
	}
	flushWord(len(f))
	flushCJK(len(f))
	return toks, brk
}

func followsWordRune(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return isWordRune(r) && !isUnspaced(r)
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)
}

func isJoiner(r rune) bool {
	return r == '\'' || r == '’' || r == '-' || r == '.' || r == '_'
}

// isUnspaced reports whether r belongs to a script written without spaces
// between words.
func isUnspaced(r rune) bool {
	if r < 0x0E00 { // below Thai: Latin, Cyrillic, Greek, Arabic, Hebrew, Indic
		return false
	}
	if r == 'ー' || r == '々' {
		// The prolonged sound mark and the repetition mark belong to no
		// script but occur only inside Japanese and Chinese words.
		return true
	}
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar)
}

func makeToken(w string, brk, mention bool) token {
	first, _ := utf8.DecodeRuneInString(w)
	norm := strings.ToLower(w)
	if strings.ContainsRune(norm, '’') {
		norm = strings.ReplaceAll(norm, "’", "'")
	}
	letter := false
	for _, r := range norm {
		if unicode.IsLetter(r) {
			letter = true
			break
		}
	}
	return token{norm: norm, stem: stem(norm), brk: brk, cap: unicode.IsUpper(first), mention: mention, letter: letter}
}

func appendBigrams(toks []token, run string, brk bool) []token {
	runes := []rune(run)
	if len(runes) == 1 {
		return append(toks, token{norm: run, stem: run, brk: brk, cjk: true, letter: unicode.IsLetter(runes[0])})
	}
	for i := 0; i+1 < len(runes); i++ {
		bg := string(runes[i : i+2])
		toks = append(toks, token{norm: bg, stem: bg, brk: brk && i == 0, cjk: true, letter: true})
	}
	return toks
}

// stem strips the commonest English inflections so that "deploy", "deploys",
// "deployed" and "deploying" count as one word. It only needs to group
// words, never to produce real ones, and leaves non-ASCII words alone.
func stem(w string) string {
	if len(w) < 4 {
		return w
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; c < 'a' || c > 'z' {
			if c != '-' && c != '\'' {
				return w
			}
		}
	}
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "'s"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		w = w[:len(w)-1]
	}
	switch {
	case strings.HasSuffix(w, "ing") && len(w) > 5:
		w = w[:len(w)-3]
	case strings.HasSuffix(w, "ed") && len(w) > 4:
		w = w[:len(w)-2]
	}
	if strings.HasSuffix(w, "e") && len(w) > 3 {
		w = w[:len(w)-1]
	}
	// running → runn → run, planned → plann → plan
	if n := len(w); n > 3 && w[n-1] == w[n-2] && w[n-1] != 'l' && w[n-1] != 's' && w[n-1] != 'e' && w[n-1] != 'o' {
		w = w[:n-1]
	}
	return w
}

// hasLetter reports whether s contains a letter.
func hasLetter(s string) bool {
	return strings.IndexFunc(s, unicode.IsLetter) >= 0
}
