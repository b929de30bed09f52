package extract

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxSentenceWords bounds a sentence; text that runs on longer without
// punctuation is cut into chunks of chunkWords so that one run-on line
// cannot become the whole summary.
const (
	maxSentenceWords = 60
	chunkWords       = 40
)

// splitSentences splits one line or paragraph into sentences. A period ends
// a sentence only when whitespace follows it (so "3.5", "example.com" and
// "v1.2" stay whole) and the word before it is not an abbreviation ("e.g.",
// "Dr."); "etc." and "p.m." end one only before a capital. Sentences without
// a letter or digit are dropped.
func splitSentences(s string) []string {
	var out []string
	add := func(part string) {
		part = strings.TrimSpace(part)
		if strings.IndexFunc(part, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) < 0 {
			return
		}
		out = appendChunks(out, part)
	}
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isTerminator(r) {
			i += size
			continue
		}
		// Take the whole run of terminators and closing quotes: "?!", "...", `."`.
		j, dots := i, 0
		for j < len(s) {
			r2, sz := utf8.DecodeRuneInString(s[j:])
			if !isTerminator(r2) && !isCloser(r2) {
				break
			}
			if r2 == '.' {
				dots++
			}
			j += sz
		}
		if endsSentence(s, i, j, r, dots) {
			add(s[start:j])
			start = j
		}
		i = j
	}
	add(s[start:])
	return out
}

// endsSentence decides whether the terminator run s[i:j], whose first rune
// is r and which holds dots periods, ends a sentence.
func endsSentence(s string, i, j int, r rune, dots int) bool {
	if r == '。' || r == '！' || r == '？' {
		return true
	}
	if j < len(s) {
		next, _ := utf8.DecodeRuneInString(s[j:])
		if !unicode.IsSpace(next) {
			return false
		}
	}
	nextCap := nextStartsUpper(s[j:])
	if r == '…' || dots > 1 {
		// An ellipsis trails off mid-thought unless a new sentence starts.
		return j == len(s) || nextCap
	}
	if r != '.' {
		return true
	}
	word := strings.ToLower(wordBefore(s, i))
	switch {
	case word == "":
		return true
	case has(abbreviations, word):
		return false
	case has(softAbbreviations, word) || strings.Contains(word, "."):
		return j == len(s) || nextCap
	}
	// A single capital letter is an initial: "J. Smith".
	if rc := utf8.RuneCountInString(word); rc == 1 {
		first, _ := utf8.DecodeRuneInString(wordBefore(s, i))
		if unicode.IsUpper(first) {
			return j == len(s) || !nextCap
		}
	}
	return true
}

// wordBefore returns the run of non-space characters ending at s[i],
// without leading brackets or quotes.
func wordBefore(s string, i int) string {
	k := i
	for k > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:k])
		if unicode.IsSpace(r) {
			break
		}
		k -= size
	}
	return strings.TrimLeft(s[k:i], "([{\"'“‘*_")
}

func nextStartsUpper(s string) bool {
	s = strings.TrimLeft(s, " \t\"'“‘([*_")
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsUpper(r)
}

func isTerminator(r rune) bool {
	switch r {
	case '.', '!', '?', '…', '。', '！', '？':
		return true
	}
	return false
}

func isCloser(r rune) bool {
	switch r {
	case '"', '\'', '”', '’', ')', ']', '»', '*', '_':
		return true
	}
	return false
}

// appendChunks appends sentence, cut into chunks of chunkWords words when it
// has more than maxSentenceWords.
func appendChunks(out []string, sentence string) []string {
	words := 0
	for range strings.FieldsSeq(sentence) {
		words++
		if words > maxSentenceWords {
			break
		}
	}
	if words <= maxSentenceWords {
		return append(out, sentence)
	}
	start, n, inWord := 0, 0, false
	for i, r := range sentence {
		space := unicode.IsSpace(r)
		if !space && !inWord {
			if n == chunkWords {
				out = append(out, strings.TrimSpace(sentence[start:i]))
				start, n = i, 0
			}
			n++
		}
		inWord = !space
	}
	if rest := strings.TrimSpace(sentence[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}
