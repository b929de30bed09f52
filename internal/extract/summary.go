package extract

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// maxGraph bounds the TextRank graph. Longer conversations are first
	// narrowed to the sentences richest in the conversation's frequent
	// words, which keeps a 100 KB input to a few milliseconds.
	maxGraph = 300
	// damping is PageRank's usual damping factor.
	damping = 0.85
	// maxSentenceRunes bounds one summary sentence.
	maxSentenceRunes = 300
	// leadPrior and decisionPrior raise the chance that the random walk
	// restarts at an early sentence or at a recorded decision.
	leadPrior     = 0.5
	decisionPrior = 0.5
	// informative is the number of content words from which a sentence is
	// not penalised for being short.
	informative = 8
	// maxOverlap is the cosine similarity above which a sentence repeats
	// one already in the summary.
	maxOverlap = 0.4
)

// summarize picks the most central sentences with TextRank: sentences are
// nodes, edges are weighted by shared content words (normalised by length as
// in Mihalcea & Tarau 2004), and words of the title bias the random walk. It
// returns 1 to 3 sentences, by length of the conversation, in their original
// order.
func summarize(d *document, title []token) string {
	r := rank(d, title)
	if len(r.cands) == 0 {
		return ""
	}
	cands, bags, scores, words := r.cands, r.bags, r.scores, r.words
	// Centrality decides, but a sentence of three words says too little to
	// summarise anything: scale down sentences with few content words.
	final := make([]float64, len(cands))
	order := make([]int, len(cands))
	for i, si := range cands {
		order[i] = i
		final[i] = scores[i] * math.Sqrt(float64(min(d.sents[si].nContent, informative))/informative)
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(final[b], final[a]) })

	want := summaryLength(len(cands), words)
	var picked []int
	texts := map[string]bool{}
	for _, i := range order {
		if len(picked) == want {
			break
		}
		text := displaySentence(d.sents[cands[i]].text)
		redundant := texts[text]
		for _, j := range picked {
			if redundant || cosine(bags[i], bags[j]) > maxOverlap {
				redundant = true
				break
			}
		}
		if !redundant {
			picked = append(picked, i)
			texts[text] = true
		}
	}
	slices.Sort(picked)
	parts := make([]string, 0, len(picked))
	for _, i := range picked {
		parts = append(parts, displaySentence(d.sents[cands[i]].text))
	}
	return strings.Join(parts, " ")
}

// ranking is the outcome of TextRank: candidate sentences (indexes into
// document.sents), their term bags and scores, and the candidates' count of
// content words.
type ranking struct {
	cands  []int
	bags   [][]int32
	scores []float64
	words  int
}

func rank(d *document, title []token) ranking {
	cands := summaryCandidates(d)
	if len(cands) == 0 {
		return ranking{}
	}
	terms := map[string]int32{}
	bags := make([][]int32, len(cands))
	words := 0
	for i, si := range cands {
		bags[i] = termBag(d.sents[si].toks, terms)
		words += d.sents[si].nContent
	}
	if len(cands) > maxGraph {
		cands, bags = narrow(cands, bags, len(terms))
	}
	var inner []token
	for _, s := range d.sents {
		if d.units[s.unit].title {
			inner = append(inner, s.toks...)
		}
	}
	titleBag, innerBag := termBagKnown(title, terms), termBagKnown(inner, terms)
	prior := make([]float64, len(cands))
	for i, si := range cands {
		// The teleport prior: a sentence sharing words with the title (the
		// one given, or less so a title line in the content), an early one
		// (notes and threads open with their purpose), and one recorded as
		// a decision are likelier summary material.
		prior[i] = 1 + 2*similarity(bags[i], titleBag) + similarity(bags[i], innerBag) + leadPrior/float64(1+i)
		if d.units[d.sents[si].unit].decision {
			prior[i] += decisionPrior
		}
	}
	return ranking{cands: cands, bags: bags, scores: textRank(bags, prior), words: words}
}

// summaryCandidates returns the sentences a summary may use, best class
// first: prose and notes with three or more content words; failing that,
// any sentence with a content word; failing that, any sentence at all.
// Headings and task lists are left out while anything else remains.
func summaryCandidates(d *document) []int {
	var rich, some, any []int
	for i, s := range d.sents {
		u := &d.units[s.unit]
		any = append(any, i)
		if s.nContent == 0 {
			continue
		}
		some = append(some, i)
		if s.nContent >= 3 && !u.heading && !u.title && !u.meta && !u.open && !u.checked && !u.marker && !u.section && !endsWithQuestion(s.text) {
			rich = append(rich, i)
		}
	}
	switch {
	case len(rich) > 0:
		return rich
	case len(some) > 0:
		return some
	}
	return any
}

// summaryLength is how many sentences a summary gets: one for a short
// conversation, three for a long one.
func summaryLength(sentences, words int) int {
	switch {
	case sentences <= 3 || words < 25:
		return 1
	case sentences <= 7 || words < 60:
		return 2
	}
	return 3
}

// termBag returns the sorted, distinct term ids of a sentence's topic
// words (hyphenated ones also by their parts, so "checkout-api" meets
// "checkout"), adding new terms to ids. A sentence with no topic words is
// represented by its content words.
func termBag(toks []token, ids map[string]int32) []int32 {
	var bag []int32
	add := func(term string) {
		id, ok := ids[term]
		if !ok {
			id = int32(len(ids))
			ids[term] = id
		}
		bag = append(bag, id)
	}
	for _, t := range toks {
		if t.skip {
			continue
		}
		add(t.stem)
		if !t.cjk && strings.Contains(t.stem, "-") {
			for p := range strings.SplitSeq(t.stem, "-") {
				if len(p) > 1 && hasLetter(p) {
					add(stem(p))
				}
			}
		}
	}
	if len(bag) == 0 {
		for _, t := range toks {
			if !t.stop {
				add(t.stem)
			}
		}
	}
	slices.Sort(bag)
	return slices.Compact(bag)
}

// termBagKnown is termBag for text outside the graph: words the
// conversation never uses are ignored.
func termBagKnown(toks []token, ids map[string]int32) []int32 {
	var bag []int32
	for _, t := range toks {
		if id, ok := ids[t.stem]; ok && !t.skip {
			bag = append(bag, id)
		}
	}
	slices.Sort(bag)
	return slices.Compact(bag)
}

// narrow keeps the maxGraph sentences with the highest share of the
// conversation's frequent words, in their original order.
func narrow(cands []int, bags [][]int32, nTerms int) ([]int, [][]int32) {
	freq := make([]float64, nTerms)
	for _, b := range bags {
		for _, id := range b {
			freq[id]++
		}
	}
	idx := make([]int, len(cands))
	weight := make([]float64, len(cands))
	for i, b := range bags {
		idx[i] = i
		for _, id := range b {
			weight[i] += freq[id]
		}
		weight[i] /= 1 + math.Log(1+float64(len(b)))
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(weight[b], weight[a]) })
	idx = idx[:maxGraph]
	slices.Sort(idx)
	nc, nb := make([]int, len(idx)), make([][]int32, len(idx))
	for k, i := range idx {
		nc[k], nb[k] = cands[i], bags[i]
	}
	return nc, nb
}

// overlap counts the ids two sorted bags share.
func overlap(a, b []int32) int {
	n, i, j := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			n++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return n
}

// similarity is TextRank's sentence similarity.
func similarity(a, b []int32) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	o := overlap(a, b)
	if o == 0 {
		return 0
	}
	return float64(o) / (math.Log(1+float64(len(a))) + math.Log(1+float64(len(b))))
}

func cosine(a, b []int32) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	return float64(overlap(a, b)) / math.Sqrt(float64(len(a))*float64(len(b)))
}

// textRank runs weighted PageRank over the sentence similarity graph; the
// random jump lands on sentence i in proportion to prior[i].
func textRank(bags [][]int32, prior []float64) []float64 {
	n := len(bags)
	w := make([]float64, n*n)
	out := make([]float64, n)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if s := similarity(bags[i], bags[j]); s > 0 {
				w[i*n+j], w[j*n+i] = s, s
				out[i] += s
				out[j] += s
			}
		}
	}
	tele := make([]float64, n)
	total := 0.0
	for i := range tele {
		tele[i] = prior[i]
		total += tele[i]
	}
	for i := range tele {
		tele[i] /= total
	}
	pr := slices.Clone(tele)
	next := make([]float64, n)
	for iter := 0; iter < 100; iter++ {
		dangling := 0.0
		for j := 0; j < n; j++ {
			if out[j] == 0 {
				dangling += pr[j]
			}
		}
		for i := 0; i < n; i++ {
			next[i] = (1-damping)*tele[i] + damping*dangling*tele[i]
		}
		for j := 0; j < n; j++ {
			if out[j] == 0 {
				continue
			}
			f := damping * pr[j] / out[j]
			row := w[j*n : j*n+n]
			for i, x := range row {
				if x != 0 {
					next[i] += f * x
				}
			}
		}
		delta := 0.0
		for i := range pr {
			delta += math.Abs(next[i] - pr[i])
		}
		pr, next = next, pr
		if delta < 1e-9 {
			break
		}
	}
	return pr
}

// displaySentence tidies a sentence for a summary: leading filler ("ok
// so") goes, the first letter is capitalised, it ends with punctuation, and
// it is cut to maxSentenceRunes.
func displaySentence(s string) string {
	s = capitalize(trimFiller(s))
	s = truncateRunes(s, maxSentenceRunes)
	r, _ := utf8.DecodeLastRuneInString(s)
	if !isTerminator(r) && !isCloser(r) {
		s += "."
	} else if isCloser(r) && r != '"' && r != '”' && r != '\'' && r != '’' {
		trimmed := strings.TrimRightFunc(s, isCloser)
		if r2, _ := utf8.DecodeLastRuneInString(trimmed); !isTerminator(r2) {
			s += "."
		}
	}
	return s
}

// trimFiller removes discourse filler from the front of s: "Ok so we need"
// becomes "we need", "Sure, I can take it" becomes "I can take it". It
// never returns an empty string for a non-empty s.
func trimFiller(s string) string {
	orig := s
	for range 4 {
		word, rest := leadingWord(s)
		if word == "" {
			break
		}
		lw := strings.ToLower(strings.ReplaceAll(word, "’", "'"))
		two, rest2 := leadingWord(strings.TrimLeft(rest, " "))
		phrase := lw + " " + strings.ToLower(two)
		switch {
		case phrase == "thank you" || phrase == "sounds good" || phrase == "got it" || phrase == "all right" || phrase == "makes sense":
			if !strings.HasPrefix(rest2, ",") && !strings.HasPrefix(rest2, "!") && !strings.HasPrefix(rest2, ".") && !strings.HasPrefix(rest2, " -") {
				return trimmedOr(s, orig)
			}
			s = strings.TrimLeft(rest2, " ,.!-–—")
		case has(fillerWords, lw):
			s = strings.TrimLeft(rest, " ,.!-–—")
		case has(interjections, lw):
			if !strings.HasPrefix(rest, ",") && !strings.HasPrefix(rest, "!") && !strings.HasPrefix(rest, ".") && !strings.HasPrefix(rest, " -") {
				return trimmedOr(s, orig)
			}
			s = strings.TrimLeft(rest, " ,.!-–—")
		default:
			return trimmedOr(s, orig)
		}
	}
	return trimmedOr(s, orig)
}

func trimmedOr(s, orig string) string {
	if strings.IndexFunc(s, unicode.IsLetter) < 0 {
		return orig
	}
	return s
}

// leadingWord splits off the first word (letters and apostrophes) of s.
func leadingWord(s string) (string, string) {
	end := 0
	for end < len(s) {
		r, size := utf8.DecodeRuneInString(s[end:])
		if !unicode.IsLetter(r) && r != '\'' && r != '’' {
			break
		}
		end += size
	}
	return s[:end], s[end:]
}

// capitalize upper-cases the first letter of s when s starts with a letter.
func capitalize(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if !unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

// truncateRunes cuts s to at most n runes, at a word boundary when one is
// near, marking the cut with an ellipsis.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut, count := 0, 0
	for i := range s {
		if count == n-1 {
			cut = i
			break
		}
		count++
	}
	head := s[:cut]
	if sp := strings.LastIndexFunc(head, unicode.IsSpace); sp > len(head)*2/3 {
		head = head[:sp]
	}
	return strings.TrimRightFunc(head, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) }) + "…"
}
