package extract

import (
	"cmp"
	"slices"
	"strings"
)

const (
	// MaxKeywords bounds what Analyze returns.
	MaxKeywords = 8
	// maxPhraseWords is the longest keyword phrase.
	maxPhraseWords = 3
	// shortDoc is the number of content words under which a phrase seen
	// once may be a keyword; in longer text a phrase must recur, and so must
	// a single word.
	shortDoc = 80
)

type keyword struct {
	key      string // stems, space-separated
	stems    []string
	pf       float64 // how often the phrase occurs
	first    int     // order of first occurrence
	score    float64
	surfaces map[string]int
}

// keywords ranks the conversation's topics. As in RAKE, stop words and
// punctuation split the text into candidate phrases (here of one to three
// words); a word weighs as often as it occurs, and a phrase scores its
// frequency times the summed weight of its words relative to its heaviest,
// so "checkout service" beats "checkout" when the two mostly occur together.
// Words of the title count double. A keyword contained in a better one is
// dropped.
func keywords(d *document, title []token) []string {
	tf := map[string]float64{}
	cands := map[string]*keyword{}
	order := 0
	var run []token
	flush := func(weight float64) {
		for n := 1; n <= maxPhraseWords && n <= len(run); n++ {
			for i := 0; i+n <= len(run); i++ {
				addCandidate(cands, run[i:i+n], weight, &order)
			}
		}
		run = run[:0]
	}
	scan := func(toks []token, weight float64) {
		for _, t := range toks {
			if t.brk || t.skip || t.cjk {
				flush(weight)
			}
			if t.skip {
				continue
			}
			tf[t.stem] += weight
			if t.cjk {
				addCandidate(cands, []token{t}, weight, &order)
				continue
			}
			run = append(run, t)
		}
		flush(weight)
	}
	scan(title, 2)
	content := 0
	for _, s := range d.sents {
		weight := 1.0
		if d.units[s.unit].title {
			weight = 2
		}
		scan(s.toks, weight)
		content += s.nContent
	}

	list := make([]*keyword, 0, len(cands))
	for _, k := range cands {
		if len(k.stems) == 1 {
			k.score = tf[k.key]
		} else {
			if k.pf < 2 && content >= shortDoc {
				continue
			}
			sum, heaviest := 0.0, 0.0
			for _, st := range k.stems {
				sum += tf[st]
				heaviest = max(heaviest, tf[st])
			}
			k.score = k.pf * sum / heaviest
		}
		if content >= shortDoc && k.score < 2 {
			continue
		}
		list = append(list, k)
	}
	slices.SortFunc(list, func(a, b *keyword) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.first, b.first)
	})

	out := make([]string, 0, MaxKeywords)
	var chosen []*keyword
	for _, k := range list {
		if len(out) == MaxKeywords {
			break
		}
		if slices.ContainsFunc(chosen, func(c *keyword) bool { return contains(c.stems, k.stems) || contains(k.stems, c.stems) }) {
			continue
		}
		surface := bestSurface(k.surfaces)
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
		k = &keyword{key: key, stems: keyParts(toks), first: *order, surfaces: map[string]int{}}
		cands[key] = k
		*order++
	}
	k.pf += weight
	k.surfaces[surface]++
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
