package extract

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
)

const (
	// MaxKeywords bounds what Analyze returns.
	MaxKeywords = 8
	// maxPhraseWords is the longest keyword phrase.
	maxPhraseWords = 3
	// maxRun is the longest run of content words split into phrases.
	maxRun = 4
	// shortDoc is the number of content words under which a phrase seen
	// once may be a keyword; in longer text a phrase must recur, and so must
	// a single word.
	shortDoc = 80
)

type keyword struct {
	unspaced bool   // a character n-gram of a script written without spaces
	key      string // stems, space-separated
	stems    []string
	pf       float64 // how often the phrase occurs
	first    int     // order of first occurrence
	score    float64
	seen     int            // occurrences, unweighted
	surface  string         // the first form seen
	surfaces map[string]int // counts of every form, once a second one is seen
}

// keywords ranks the conversation's topics. As in RAKE, stop words and
// punctuation split the text into candidate phrases (here of one to three
// words); a word weighs as often as it occurs, and a phrase scores its
// frequency times the summed weight of its words relative to its heaviest,
// so "checkout service" beats "checkout" when the two mostly occur together.
// Words of the title count double. A keyword contained in a better one is
// dropped.
func keywords(d *document, title []token) []string {
	var c phraseCounter
	c.scan(title, 2)
	content := 0
	var unspaced []string
	for _, s := range d.sents {
		weight := 1.0
		if d.units[s.unit].title {
			weight = 2
		}
		c.scan(s.toks, weight)
		content += s.nContent
		if slices.ContainsFunc(s.toks, func(t token) bool { return t.cjk }) {
			unspaced = append(unspaced, s.text)
		}
	}
	list := c.scored(content)
	list = append(list, unspacedCandidates(unspaced, c.order)...)
	slices.SortFunc(list, func(a, b *keyword) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.first, b.first)
	})
	return chooseKeywords(list)
}

// phraseCounter collects keyword candidates: the runs of content words
// between stop words and punctuation, split into phrases, and how much
// each word weighs.
type phraseCounter struct {
	tf    map[string]float64
	cands map[string]*keyword
	order int
	run   []token
}

// scan counts the phrases of toks, each occurrence weighing weight.
func (c *phraseCounter) scan(toks []token, weight float64) {
	if c.tf == nil {
		c.tf, c.cands = map[string]float64{}, map[string]*keyword{}
	}
	for _, t := range toks {
		if t.brk || t.skip || t.cjk {
			c.flush(weight)
		}
		if t.skip {
			continue
		}
		if t.cjk {
			continue // counted by unspacedCandidates
		}
		c.tf[t.stem] += weight
		c.run = append(c.run, t)
	}
	c.flush(weight)
}

// flush adds the phrases of the current run of content words.
func (c *phraseCounter) flush(weight float64) {
	maxN := maxPhraseWords
	if len(c.run) > maxRun {
		// No stop words to split on (a language we have no list for, or
		// a string of nouns): phrases would be arbitrary windows.
		maxN = 1
	}
	for n := 1; n <= maxN && n <= len(c.run); n++ {
		for i := 0; i+n <= len(c.run); i++ {
			addCandidate(c.cands, c.run[i:i+n], weight, &c.order)
		}
	}
	c.run = c.run[:0]
}

// scored scores the candidates, RAKE-style, and drops those that do not
// recur in a text of content or more content words.
func (c *phraseCounter) scored(content int) []*keyword {
	list := make([]*keyword, 0, len(c.cands))
	for _, k := range c.cands {
		if len(k.stems) == 1 {
			k.score = c.tf[k.key]
		} else {
			if k.pf < 2 && content >= shortDoc {
				continue
			}
			sum, heaviest := 0.0, 0.0
			for _, st := range k.stems {
				sum += c.tf[st]
				heaviest = max(heaviest, c.tf[st])
			}
			k.score = k.pf * sum / heaviest
		}
		if content >= shortDoc && k.score < 2 {
			continue
		}
		list = append(list, k)
	}
	return list
}

// chooseKeywords takes the best MaxKeywords of a ranked list, skipping any
// contained in one already chosen, in the form each is most often written.
func chooseKeywords(list []*keyword) []string {
	out := make([]string, 0, MaxKeywords)
	var chosen []*keyword
	for _, k := range list {
		if len(out) == MaxKeywords {
			break
		}
		if slices.ContainsFunc(chosen, func(c *keyword) bool { return redundant(c, k) }) {
			continue
		}
		surface := k.surface
		if k.surfaces != nil {
			surface = bestSurface(k.surfaces)
		}
		if slices.Contains(out, surface) {
			continue
		}
		chosen = append(chosen, k)
		out = append(out, surface)
	}
	return out
}

func addCandidate(cands map[string]*keyword, toks []token, weight float64, order *int) {
	var key, surface string
	if len(toks) == 1 {
		key, surface = toks[0].stem, toks[0].norm
	} else {
		stems, norms := make([]string, len(toks)), make([]string, len(toks))
		for i, t := range toks {
			stems[i], norms[i] = t.stem, t.norm
		}
		key, surface = strings.Join(stems, " "), strings.Join(norms, " ")
	}
	k, ok := cands[key]
	if !ok {
		k = &keyword{key: key, stems: keyParts(toks), first: *order, surface: surface}
		cands[key] = k
		*order++
	}
	k.pf += weight
	switch {
	case k.surfaces != nil:
		k.surfaces[surface]++
	case surface != k.surface:
		k.surfaces = map[string]int{k.surface: k.seen, surface: 1}
	}
	k.seen++
}

// keyParts returns the stems of toks, hyphenated words also split into
// their parts, so that "eu" counts as contained in "eu-west-1".
func keyParts(toks []token) []string {
	var parts []string
	for _, t := range toks {
		parts = append(parts, t.stem)
		if !t.cjk && strings.Contains(t.stem, "-") {
			for p := range strings.SplitSeq(t.stem, "-") {
				if p != "" {
					parts = append(parts, stem(p))
				}
			}
		}
	}
	return parts
}

// contains reports whether every stem of b is in a.
func contains(a, b []string) bool {
	for _, s := range b {
		if !slices.Contains(a, s) {
			return false
		}
	}
	return true
}

// bestSurface picks the form a keyword is shown in: the most frequent, and
// of equally frequent ones the shortest, then the first alphabetically.
func bestSurface(m map[string]int) string {
	best, n := "", -1
	for s, c := range m {
		if c > n || (c == n && (len(s) < len(best) || (len(s) == len(best) && s < best))) {
			best, n = s, c
		}
	}
	return best
}

// redundant reports whether keyword k repeats the chosen keyword c: one's
// words contain the other's, or, for character n-grams, they share a pair
// of characters.
func redundant(c, k *keyword) bool {
	if c.unspaced != k.unspaced {
		return false
	}
	if !k.unspaced {
		return contains(c.stems, k.stems) || contains(k.stems, c.stems)
	}
	kr := []rune(k.key)
	for i := 0; i+1 < len(kr); i++ {
		if strings.Contains(c.key, string(kr[i:i+2])) {
			return true
		}
	}
	return false
}

// unspacedCandidates finds keywords in scripts written without spaces
// (Chinese, Japanese, Thai), where there are no words to count: character
// n-grams of two to four characters that occur at least twice, neither
// starting nor ending with a particle, and not just part of a longer n-gram
// that occurs as often. They score their frequency times their length.
func unspacedCandidates(texts []string, order int) []*keyword {
	const minN, maxN = 2, 4
	freq := map[string]int{}
	first := map[string]int{}
	for _, text := range texts {
		for run := range unspacedRuns(text) {
			for n := minN; n <= maxN && n <= len(run); n++ {
				for i := 0; i+n <= len(run); i++ {
					g := string(run[i : i+n])
					if _, ok := first[g]; !ok {
						first[g] = order
						order++
					}
					freq[g]++
				}
			}
		}
	}
	// An n-gram that only ever occurs inside one longer n-gram is a
	// fragment of it: "リリー" of "リリース".
	subsumed := map[string]bool{}
	for g, f := range freq {
		r := []rune(g)
		if len(r) == minN || f < 2 {
			continue
		}
		for _, part := range []string{string(r[:len(r)-1]), string(r[1:])} {
			if freq[part] == f {
				subsumed[part] = true
			}
		}
	}
	var out []*keyword
	for g, f := range freq {
		r := []rune(g)
		if f < 2 || subsumed[g] || isParticle(r[0]) || isParticle(r[len(r)-1]) || !slices.ContainsFunc(r, isContentChar) {
			continue
		}
		out = append(out, &keyword{key: g, unspaced: true, first: first[g], score: float64(f * len(r)), surface: g})
	}
	return out
}

// unspacedRuns yields the runs of unspaced script in s.
func unspacedRuns(s string) func(func([]rune) bool) {
	return func(yield func([]rune) bool) {
		var run []rune
		for _, r := range s {
			if isUnspaced(r) {
				run = append(run, r)
				continue
			}
			if len(run) > 0 && !yield(run) {
				return
			}
			run = nil
		}
		if len(run) > 0 {
			yield(run)
		}
	}
}

// isContentChar reports whether r can carry the meaning of a character
// n-gram: a Han character, Katakana (loanwords) or a Thai letter.
func isContentChar(r rune) bool {
	return unicode.IsLetter(r) && unicode.In(r, unicode.Han, unicode.Katakana, unicode.Thai)
}

// isParticle reports whether r is a grammatical particle or function
// character that never starts or ends a keyword: Hiragana, and the
// commonest Chinese function characters.
func isParticle(r rune) bool {
	return unicode.Is(unicode.Hiragana, r) || strings.ContainsRune("的了是在和与我你他她它们这那有也都就要会把被对从到吗呢吧啊一个之而及或很还", r)
}
