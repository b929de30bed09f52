package duedate

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// token is one word of the text, lower-cased, with what the phrases above
// need to know about how it was written.
type token struct {
	w        string
	cap      bool // written with a capital
	num      int  // the value of a word of one to four digits, else -1
	ord      int  // the number of an ordinal ("12th" is 12), else 0
	numeric  bool // digits joined by '/', '-' or '.': "12/03", "2026-12-11"
	plural   bool // a weekday with an s: "Mondays" (a habit, not a day)
	brkAfter bool // punctuation follows the word
	// start and end are the byte offsets of the word in the text, for
	// FindPhrase.
	start, end int32
}

// maxTokens bounds the words read from one text: a due date sits in the
// sentence of its task, and a pasted book must not cost more than that.
const maxTokens = 4000

// tokenize splits s into words. Apostrophes inside a word are dropped
// ("don't" → "dont") and a possessive 's is removed ("Thursday's" →
// "thursday"); digits joined by '/', '-' or '.' stay one word ("12/03");
// every other character separates words.
func tokenize(s string) []token {
	toks := make([]token, 0, strings.Count(s, " ")+1)
	start := -1 // byte offset of the current word
	numeric, apostrophe := false, false
	var last rune // the previous rune of the current word
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := s[start:end]
		if apostrophe {
			w = strings.Map(func(r rune) rune {
				if r == '\'' || r == '’' {
					return -1
				}
				return r
			}, w)
		}
		t := makeToken(w, numeric)
		t.start, t.end = int32(start), int32(end)
		toks = append(toks, t)
		start, numeric, apostrophe = -1, false, false
	}
	for i := 0; i < len(s) && len(toks) < maxTokens; {
		r, size := utf8.DecodeRuneInString(s[i:])
		next, nsize := utf8.DecodeRuneInString(s[i+size:])
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if start < 0 {
				start = i
			}
		case start >= 0 && (r == '/' || r == '-' || r == '.') && isDigit(last) && isDigit(next):
			numeric = true
		case start >= 0 && (r == '\'' || r == '’') && unicode.IsLetter(last) && unicode.IsLetter(next):
			if (next == 's' || next == 'S') && !isWordRune(s[i+size+nsize:]) {
				// possessive: the word ends here, "'s" is dropped
				flush(i)
				i += size + nsize
				last = 0
				continue
			}
			apostrophe = true
		default:
			flush(i)
			hyphen := r == '-' && unicode.IsLetter(last) && unicode.IsLetter(next) // "no-meeting", "month-end"
			if !unicode.IsSpace(r) && !hyphen && len(toks) > 0 {
				toks[len(toks)-1].brkAfter = true
			}
		}
		last = r
		i += size
	}
	flush(len(s))
	return toks
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isWordRune(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return len(s) > 0 && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

func makeToken(w string, numeric bool) token {
	first, _ := utf8.DecodeRuneInString(w)
	t := token{w: strings.ToLower(w), cap: unicode.IsUpper(first), num: -1, numeric: numeric}
	if numeric {
		return t
	}
	digits := 0
	for digits < len(t.w) && isDigit(rune(t.w[digits])) {
		digits++
	}
	switch {
	case digits == len(t.w) && digits <= 4:
		t.num = atoi(t.w)
	case digits > 0 && digits <= 2 && len(t.w) == digits+2:
		switch t.w[digits:] {
		case "st", "nd", "rd", "th":
			t.ord = atoi(t.w[:digits])
		}
	}
	if strings.HasSuffix(t.w, "days") {
		if _, ok := weekdays[t.w[:len(t.w)-1]]; ok {
			t.plural, t.w = true, t.w[:len(t.w)-1]
		}
	}
	return t
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// numPart is one number of a numeric date, as written and as a value.
type numPart struct {
	s string
	n int
}

// splitNumeric splits "12/03/2026" into its numbers and returns the
// separator; mixed separators or a part longer than four digits give nil.
func splitNumeric(w string) ([]numPart, byte) {
	var sep byte
	for i := 0; i < len(w); i++ {
		if c := w[i]; c == '/' || c == '-' || c == '.' {
			if sep != 0 && sep != c {
				return nil, 0
			}
			sep = c
		}
	}
	if sep == 0 {
		return nil, 0
	}
	var parts []numPart
	for f := range strings.SplitSeq(w, string(sep)) {
		if f == "" || len(f) > 4 {
			return nil, 0
		}
		for i := 0; i < len(f); i++ {
			if !isDigit(rune(f[i])) {
				return nil, 0
			}
		}
		parts = append(parts, numPart{s: f, n: atoi(f)})
		if len(parts) > 3 {
			return nil, 0
		}
	}
	return parts, sep
}

var weekdays = map[string]time.Weekday{
	"monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday, "thursday": time.Thursday,
	"friday": time.Friday, "saturday": time.Saturday, "sunday": time.Sunday,
}

var weekdayAbbrevs = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "tues": time.Tuesday, "wed": time.Wednesday, "weds": time.Wednesday,
	"thu": time.Thursday, "thur": time.Thursday, "thurs": time.Thursday, "fri": time.Friday,
	"sat": time.Saturday, "sun": time.Sunday,
}

// weekdayWord reads a weekday. A full name always counts; an abbreviation
// counts when capitalised or after "by", "on", "next" …, and "sat" and
// "sun", which are also words, only when both.
func weekdayWord(t token, prev string) (time.Weekday, bool) {
	if wd, ok := weekdays[t.w]; ok {
		return wd, true
	}
	wd, ok := weekdayAbbrevs[t.w]
	if !ok {
		return 0, false
	}
	cued := deadlineWord(prev) || prev == "this" || prev == "next"
	if t.w == "sat" || t.w == "sun" {
		return wd, t.cap && cued
	}
	return wd, t.cap || cued
}

var months = map[string]time.Month{
	"january": time.January, "february": time.February, "march": time.March, "april": time.April,
	"may": time.May, "june": time.June, "july": time.July, "august": time.August,
	"september": time.September, "october": time.October, "november": time.November, "december": time.December,
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April, "jun": time.June,
	"jul": time.July, "aug": time.August, "sep": time.September, "sept": time.September, "oct": time.October,
	"nov": time.November, "dec": time.December,
}

// monthAny returns the month a word names in any case, or 0.
func monthAny(w string) time.Month { return months[w] }

// monthWord reports whether t names a month on its own: capitalised, or a
// full name that is not also an everyday word ("may", "march").
func monthWord(t token) bool {
	m, ok := months[t.w]
	if !ok {
		return false
	}
	if t.cap {
		return true
	}
	return len(t.w) > 4 && m != time.March
}

// quarterSpec is a quarter or half: its first and last month.
type quarterSpec struct{ first, last time.Month }

func quarterWord(w string) (quarterSpec, bool) {
	switch w {
	case "q1":
		return quarterSpec{time.January, time.March}, true
	case "q2":
		return quarterSpec{time.April, time.June}, true
	case "q3":
		return quarterSpec{time.July, time.September}, true
	case "q4":
		return quarterSpec{time.October, time.December}, true
	case "h1":
		return quarterSpec{time.January, time.June}, true
	case "h2":
		return quarterSpec{time.July, time.December}, true
	}
	return quarterSpec{}, false
}

// numberWords are the counts written as words in "in two weeks".
var numberWords = map[string]int{
	"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
	"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "couple": 2,
}

// unitOf names the unit a word counts in: "day", "week", "fortnight",
// "month", "hour", "minute", or "".
func unitOf(w string) string {
	switch w {
	case "day", "days":
		return "day"
	case "week", "weeks", "wk", "wks":
		return "week"
	case "fortnight", "fortnights":
		return "fortnight"
	case "month", "months":
		return "month"
	case "hour", "hours", "hr", "hrs":
		return "hour"
	case "minute", "minutes", "min", "mins":
		return "minute"
	}
	return ""
}

// cueWords are the words without which no phrase above can name a date
// (with digits, which are checked apart). Most sentences have none, and
// mayHaveDate lets them skip the parser.
var cueWords = buildCueWords()

func buildCueWords() map[string]bool {
	cueWords := map[string]bool{}
	for _, list := range []string{
		"today tonight tonite 2day tomorrow tmrw tmr tmrow tomorow tommorow tommorrow 2moro 2morrow",
		"eod cob eob noon midday lunch lunchtime overnight eow eom eoq eoy business play morning afternoon evening",
		"day days week weeks wk wks weekend month months quarter year fortnight fortnights hour hours hr hrs minute minutes min mins",
		"q1 q2 q3 q4 h1 h2",
	} {
		for _, w := range strings.Fields(list) {
			cueWords[w] = true
		}
	}
	for w := range weekdays {
		cueWords[w] = true
		cueWords[w+"s"] = true
	}
	for w := range weekdayAbbrevs {
		cueWords[w] = true
	}
	for w := range months {
		cueWords[w] = true
	}
	return cueWords
}

// mayHaveDate reports whether text has a digit or a word a date phrase
// needs. It allocates nothing.
func mayHaveDate(text string) bool {
	var buf [12]byte
	n := 0
	check := func() bool {
		ok := n > 0 && n <= len(buf) && cueWords[string(buf[:n])]
		n = 0
		return ok
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c >= '0' && c <= '9':
			return true
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			if n < len(buf) {
				buf[n] = c | 0x20
			}
			n++
		case c >= 0x80:
			// A letter outside ASCII is no cue word, but it does not end one
			// either: "tomorrow’s" keeps its apostrophe out of the word.
			if n > 0 && check() {
				return true
			}
		default:
			if check() {
				return true
			}
		}
	}
	return check()
}
