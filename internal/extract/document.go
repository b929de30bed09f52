package extract

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// sentence is one sentence of a unit, with its words.
type sentence struct {
	text  string
	toks  []token
	unit  int  // index into document.units
	first bool // the unit's first sentence
	// nContent counts content tokens: neither stop words nor numbers.
	nContent int
}

// document is a parsed conversation: its units, their sentences, and what
// was learnt about it on the way (speakers, proper nouns, language).
type document struct {
	units []unit
	sents []sentence
	// names holds the lower-case words of speaker names and @mentions:
	// people, not topics.
	names map[string]bool
	// proper holds lower-case words written with a capital somewhere other
	// than the start of a sentence: evidence of a name.
	proper map[string]bool
	// people holds the lower-case words of names in an attendee list
	// ("Present: Derek (site manager), Aoife"), which action items may
	// name as owners. Built on first use.
	people map[string]bool
	// pair holds the two speakers of a two-person chat; see chatPair.
	pair     [2]string
	pairDone bool
	// extraStop is the stop list of the conversation's language when that
	// is not English.
	extraStop map[string]struct{}
}

// langSample bounds how many words language detection looks at.
const langSample = 4000

func newDocument(content string) *document {
	d := &document{units: parse(content), names: map[string]bool{}, proper: map[string]bool{}}
	for ui := range d.units {
		u := &d.units[ui]
		for w := range strings.FieldsSeq(strings.ToLower(u.speaker)) {
			d.names[strings.ReplaceAll(w, "’", "'")] = true
		}
		labelToks := 0
		if u.labelEnd > 0 {
			labelToks = len(tokenize(u.text[:min(u.labelEnd, len(u.text))]))
		}
		for i, text := range splitSentences(u.text) {
			s := sentence{text: text, toks: tokenize(text), unit: ui, first: i == 0}
			if i == 0 {
				for k := 0; k < labelToks && k < len(s.toks); k++ {
					s.toks[k].skip, s.toks[k].label = true, true
				}
			}
			d.sents = append(d.sents, s)
		}
	}
	d.extraStop = detectLanguage(d.sents)
	for si := range d.sents {
		s := &d.sents[si]
		for ti := range s.toks {
			t := &s.toks[ti]
			if t.mention {
				d.names[t.norm] = true
			}
			t.stop = t.label || d.isStop(t)
			if !t.stop {
				s.nContent++
				if t.cap && ti > 0 && !t.brk {
					d.proper[t.norm] = true
				}
			}
		}
	}
	for si := range d.sents {
		d.markSkip(d.sents[si].toks)
	}
	return d
}

// prepare marks tokens from outside the content (the title) the way the
// content's own tokens are marked.
func (d *document) prepare(toks []token) []token {
	for i := range toks {
		toks[i].stop = d.isStop(&toks[i])
	}
	d.markSkip(toks)
	return toks
}

// markSkip marks the tokens that may not be keywords.
func (d *document) markSkip(toks []token) {
	for i := range toks {
		t := &toks[i]
		t.skip = t.skip || t.stop || t.mention || t.tag || d.names[t.norm] || has(keywordSkip, t.norm) || has(keywordSkip, t.stem)
	}
}

// isStop reports whether t carries no content: a function word, a number,
// a single character, or an identifier such as a commit hash.
func (d *document) isStop(t *token) bool {
	if !t.letter {
		return true
	}
	if t.cjk {
		return false
	}
	n := utf8.RuneCountInString(t.norm)
	if n < 2 || n > 40 || has(englishStop, t.norm) || (d.extraStop != nil && has(d.extraStop, t.norm)) {
		return true
	}
	return looksLikeID(t.norm)
}

// looksLikeID reports whether w is a hash or an identifier made of mixed
// letters and many digits ("3f9a2c1", "a1b2c3d4").
func looksLikeID(w string) bool {
	if len(w) < 7 {
		return false
	}
	digits := 0
	for _, r := range w {
		if unicode.IsDigit(r) {
			digits++
		}
	}
	return digits >= 3
}

// detectLanguage returns the stop list of the language most of the text is
// in, when that is one we know and not English; nil otherwise.
func detectLanguage(sents []sentence) map[string]struct{} {
	english, seen := 0, 0
	var hits [len(stopLangs)]int
	for _, s := range sents {
		for _, t := range s.toks {
			if seen >= langSample {
				break
			}
			seen++
			if has(englishStop, t.norm) {
				english++
				continue
			}
			for mask, l := foreignStopLangs[t.norm], 0; mask != 0; mask, l = mask>>1, l+1 {
				if mask&1 != 0 {
					hits[l]++
				}
			}
		}
	}
	best, bestHits := -1, 0
	for l, n := range hits {
		if n > bestHits {
			best, bestHits = l, n
		}
	}
	if bestHits >= 3 && bestHits*2 > english {
		return foreignStop[stopLangs[best]]
	}
	return nil
}

// stopLangs are the languages of foreignStop, in the order detectLanguage
// breaks ties.
var stopLangs = [...]string{"de", "es", "fr", "it", "nl", "pt"}

// foreignStopLangs maps each word of foreignStop to the languages whose
// list has it, bit l for stopLangs[l]: one lookup per word instead of one
// per language.
var foreignStopLangs = func() map[string]uint8 {
	m := map[string]uint8{}
	for l, lang := range stopLangs {
		for w := range foreignStop[lang] {
			m[w] |= 1 << l
		}
	}
	return m
}()
