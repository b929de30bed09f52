package extract

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules that cut an item down to its task: "Alice will send the deck"
// is "Send the deck", owned by Alice.

// taskText is the item without the words that only say who does it and
// how willingly: "Alice will send the deck" → "Send the deck", "@kofi can
// you check the dashboard?" → "Check the dashboard", "the invoice hasn't
// come, I'll chase them today" → "Chase them today". When what is left
// would not read as a task it is returned as it came. lead is where the
// task's clause starts in text when the clauses before it are kept as
// what the task is about ("The vendor invoice is overdue — pay it
// today"), else 0.
func (d *document) taskText(text string, ws []word) (task string, lead int) {
	from, clause := -1, -1
	starts := clauseStarts(ws)
	if len(starts) > 1 && has(actionVerbs, ws[starts[0]].norm) {
		// "Roll back first, we can tune the pool later": the imperative
		// that opens the item is its task.
		starts = starts[:1]
	}
	for _, k := range starts {
		if j := stripOpener(ws, d.stripSubject(text, ws, k)); j > k {
			if j+2 < len(ws) && (ws[j].norm == "need" || ws[j].norm == "have") && ws[j+1].norm == "to" {
				j += 2 // "you will need to log in" → "log in"
			}
			from, clause = j, k
			break
		}
	}
	if from < 0 {
		return trimOwnerTail(text, ws), 0
	}
	for from < len(ws)-1 && has(taskAdverbs, ws[from].norm) && !ws[from].brkAfter {
		from++
	}
	if len(ws)-from < 2 {
		return trimOwnerTail(text, ws), 0
	}
	full := trimOwnerTail(text, ws) // a prefix of text
	if len(full) <= int(ws[from].start) {
		return full, 0
	}
	rest := trimPurpose(strings.TrimSpace(strings.TrimRight(full[ws[from].start:], "?")))
	if rest == "" {
		return text, 0
	}
	if len(starts) > 0 && clause > starts[0] {
		// What came before the clause says what the task is about: "the
		// vendor invoice is overdue, I will pay it today" → "The vendor
		// invoice is overdue — pay it today".
		lead := strings.TrimRight(text[ws[starts[0]].start:ws[clause].start], " ,;:—–-")
		if lw := splitWords(lead); len(lw) >= 2 && !fillerOnly(lw) && contentCount(lw) >= 2 {
			return capitalize(lead) + " — " + lowerFirst(rest), int(ws[clause].start)
		}
	}
	return capitalize(rest), 0
}

// contentCount counts the words of ws that carry content.
func contentCount(ws []word) int {
	n := 0
	for _, w := range ws {
		if !has(englishStop, w.norm) && !has(itemFiller, w.norm) && hasLetter(w.norm) {
			n++
		}
	}
	return n
}

// trimPurpose drops a trailing purpose clause from a task: "send a
// shortlist by Wednesday so we can vote" → "send a shortlist by Wednesday".
func trimPurpose(s string) string {
	for _, p := range []string{", so that ", " so that ", ", so we ", " so we can ", ", so I ", " so I can "} {
		if i := strings.Index(s, p); i > 0 && len(strings.Fields(s[:i])) >= 3 {
			return strings.TrimRight(s[:i], " ,")
		}
	}
	return s
}

// itemFiller opens a reply without being part of the task: "yes please
// add it", "sure, I'll do it".
var itemFiller = wordSet(`ok okay k kk yeah yep yup yea yes sure so also and but then oh ah hmm anyway btw fyi ps great cool thanks perfect right alright good fine fair noted agreed nice`)

func skipWords(ws []word, i int, set map[string]struct{}) int {
	for i < len(ws)-1 && has(set, ws[i].norm) {
		i++
	}
	return i
}

// stripName returns the index after a name that assigns the task or is
// spoken to at ws[i] ("Bob to", "Alice will", "Marco,", "@dana"), or i.
func (d *document) stripName(text string, ws []word, i int) int {
	n := d.nameLen(text, ws, i)
	j := i + n
	if n == 0 || j >= len(ws) {
		return i
	}
	switch nw := ws[j].norm; {
	case nw == "to" || nw == "will" || nw == "shall" || nw == "should" || nw == "must":
		if j+1 < len(ws) && ws[j+1].norm != "be" {
			return j + 1
		}
	case (nw == "needs" || nw == "has") && j+1 < len(ws) && ws[j+1].norm == "to":
		return j + 2
	case ws[j-1].brkAfter || ws[i].mention || has(requestModals, nw) && j+1 < len(ws) && has(youWords, ws[j+1].norm):
		// spoken to: what follows is the request itself
		if has(actionVerbs, nw) || has(requestModals, nw) || has(pleaseWords, nw) || has(youWords, nw) {
			return j
		}
	}
	return i
}

// stripSubject returns the index after the words that name who does the
// task at ws[i]: a name (stripName), a name after "our" or "the" ("Our
// Data Protection Officer will"), or a team ("our support team will",
// "all subcontractors must"); or i.
func (d *document) stripSubject(text string, ws []word, i int) int {
	if j := d.stripName(text, ws, i); j > i || i+1 >= len(ws) {
		return j
	}
	switch ws[i].norm {
	case "our", "the", "your", "their":
		if ws[i+1].cap {
			if j := d.stripName(text, ws, i+1); j > i+1 {
				return j
			}
		}
		for k := i + 1; k <= i+3 && k+1 < len(ws); k++ {
			if ws[k].brkBefore {
				break
			}
			if has(groupNouns, ws[k].norm) {
				return stripModal(ws, k+1, i)
			}
		}
	case "all", "every", "each":
		for k := i + 1; k <= i+2 && k < len(ws); k++ {
			if j := stripModal(ws, k, i); j > i {
				return j
			}
		}
	}
	return i
}

// stripModal returns the index after "will", "to", "must", "should" or
// "needs to" at ws[k], or otherwise.
func stripModal(ws []word, k, otherwise int) int {
	if k >= len(ws) {
		return otherwise
	}
	switch w := ws[k].norm; {
	case w == "will" || w == "to" || w == "must" || w == "should" || w == "shall":
		return k + 1
	case (w == "needs" || w == "need" || w == "has" || w == "have") && k+1 < len(ws) && ws[k+1].norm == "to":
		return k + 2
	}
	return otherwise
}

// stripOpener returns the index after a first-person opener ("I'll", "we
// need to", "let's"), a request ("can you", "please") or a subject-less
// commitment ("will", "need to") at ws[i], or i.
func stripOpener(ws []word, i int) int {
	if i >= len(ws) {
		return i
	}
	w := ws[i].norm
	next := func(k int) string {
		if i+k < len(ws) {
			return ws[i+k].norm
		}
		return ""
	}
	switch {
	case w == "i'll" || w == "ill" || w == "we'll" || w == "let's" || w == "lets":
		return i + 1
	case (w == "i" || w == "we" || w == "you" || w == "u") && (next(1) == "will" || next(1) == "shall" || next(1) == "can" || next(1) == "should" || next(1) == "must"):
		return i + 2
	case (w == "i" || w == "we" || w == "you") && (next(1) == "need" || next(1) == "have") && next(2) == "to":
		return i + 3
	case (w == "i'm" || w == "we're") && next(1) == "going" && next(2) == "to":
		return i + 3
	case (w == "i" || w == "we") && (next(1) == "am" || next(1) == "are") && next(2) == "going" && next(3) == "to":
		return i + 4
	case w == "let" && (next(1) == "me" || next(1) == "us"):
		return i + 2
	case (w == "happy" || w == "glad" || w == "willing") && next(1) == "to":
		return i + 2 // "happy to sort it again"
	case w == "i'm" && (next(1) == "happy" || next(1) == "glad" || next(1) == "willing") && next(2) == "to":
		return i + 3
	case (w == "will" || w == "shall") && !has(youWords, next(1)):
		return i + 1
	case (w == "need" || w == "needs") && next(1) == "to":
		return i + 2
	case has(requestModals, w) && (has(youWords, next(1)) || has(someone, next(1))):
		if has(pleaseWords, next(2)) {
			return i + 3
		}
		return i + 2
	case has(pleaseWords, w):
		return i + 1
	case w == "if" && has(youWords, next(1)) && has(requestModals, next(2)):
		return i + 3 // "(we would be grateful) if you could return …"
	case politeRequest(ws, i) > i:
		return politeRequest(ws, i)
	case offerOpener(ws, i) > i:
		return offerOpener(ws, i) // "should I also add the churn slide?"
	case has(someone, w) && (next(1) == "should" || next(1) == "must" || next(1) == "will"):
		return i + 2
	case has(someone, w) && (next(1) == "needs" || next(1) == "has") && next(2) == "to":
		return i + 3
	}
	return i
}

// politeRequest returns the index after a request wrapped in thanks: "we
// would be grateful if you could", "I'd appreciate it if you could", or i.
func politeRequest(ws []word, i int) int {
	if i >= len(ws) || !has(firstPerson, ws[i].norm) {
		return i
	}
	for k := i + 1; k+3 < len(ws) && k <= i+5; k++ {
		if ws[k].brkBefore {
			return i
		}
		if ws[k].norm == "if" && has(youWords, ws[k+1].norm) && (ws[k+2].norm == "could" || ws[k+2].norm == "would") {
			switch ws[k-1].norm {
			case "grateful", "thankful", "appreciate", "it", "great", "helpful", "glad":
				return k + 3
			}
			return i
		}
	}
	return i
}

// writtenUpper reports whether word w starts with a capital where source
// first has it.
func writtenUpper(source, w string) bool {
	r, size := utf8.DecodeRuneInString(w)
	if size == 0 {
		return false
	}
	rest := w[size:]
	for off := 0; off < len(source); {
		i := strings.Index(source[off:], rest)
		if i < 0 {
			return false
		}
		i += off
		if p, n := utf8.DecodeLastRuneInString(source[:i]); n > 0 && unicode.ToLower(p) == unicode.ToLower(r) {
			return unicode.IsUpper(p)
		}
		off = i + max(len(rest), 1)
	}
	return false
}

// trimOwnerTail removes a trailing "(Wen)" or "— Omar" that only names the
// owner.
func trimOwnerTail(text string, ws []word) string {
	n := len(ws)
	if n < 3 {
		return text
	}
	last := ws[n-1]
	if last.open && last.close && last.cap {
		return strings.TrimRight(strings.TrimSpace(text[:last.start]), "( ")
	}
	if last.brkBefore && last.cap && !has(dateWords, last.norm) && strings.ContainsAny(text[ws[n-2].end:last.start], "—–") {
		return strings.TrimRight(strings.TrimSpace(text[:last.start]), " —–-,")
	}
	return text
}
