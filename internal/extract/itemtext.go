package extract

import (
	"strings"
	"time"

	"recall/internal/duedate"
	"recall/internal/recall"
)

// The last touches to an item's text, once its owner and due date are
// known: the item carries those, so its text need only say what to do.

// finishText drops from a task's text a trailing remark about something
// else ("…, it's a small change", "(you mentioned it might go up to
// 275)") and the words its due date was read from ("by Friday"), which
// the item carries as its date. It never leaves fewer than two words.
func finishText(text string, due *recall.Date, ref time.Time, dates duedate.Options) string {
	text = trimRemark(text)
	if due != nil {
		if t := dropDatePhrase(text, *due, ref, dates); t != text {
			// "Write the template (Wen) — by Thursday" ends in its owner now.
			text = trimOwnerTail(t, splitWords(t))
		}
	}
	return text
}

// remarkOpeners open a clause that comments on the task rather than adds
// to it: "it's a small change", "she was too quiet", "which should be
// within 3 days".
var remarkOpeners = wordSet(`it it's its that's there's they they're she he she's he's she'd he'd which`)

// copulaWords after a short noun phrase make a clause a statement: "lead
// time is 5 weeks".
var copulaWords = wordSet(`is are was were 's`)

// trimRemark cuts a trailing parenthetical that is a sentence of its own
// and a trailing clause that is a remark: it opens with a pronoun or
// "which", or is a short noun phrase and "is", and asks for nothing.
func trimRemark(text string) string {
	ws := splitWords(text)
	if len(ws) < 4 {
		return text
	}
	if last := ws[len(ws)-1]; last.close {
		if i := strings.LastIndexByte(text, '('); i > 0 {
			inner := splitWords(text[i:])
			if len(inner) >= 4 && len(splitWords(text[:i])) >= 2 && isRemark(inner, true) {
				return strings.TrimRight(text[:i], " ,;—–-")
			}
		}
	}
	for k := 2; k < len(ws)-1; k++ {
		if !ws[k].brkBefore || ws[k].open || !strings.ContainsAny(text[ws[k-1].end:ws[k].start], ",;:—–-") {
			continue // "once #4521 is merged" has no break before 4521
		}
		if isRemark(ws[k:], false) && !taskAfter(ws[k+1:]) {
			return strings.TrimRight(text[:ws[k].start], " ,;:—–-")
		}
	}
	return text
}

// taskAfter reports whether a later clause of ws opens with a task verb:
// "it was great — sort it again" is no remark to cut.
func taskAfter(ws []word) bool {
	for _, w := range ws {
		if w.brkBefore && has(actionVerbs, w.norm) {
			return true
		}
	}
	return false
}

// isRemark reports whether a clause is a remark: see trimRemark. In
// brackets, a verb of saying anywhere makes one too: "(you mentioned it
// might go up)", "(needs a date and a speaker)".
func isRemark(ws []word, bracketed bool) bool {
	for _, w := range ws {
		if has(firstPerson, w.norm) || has(pleaseWords, w.norm) || w.norm == "you" && !bracketed || w.norm == "need" || w.norm == "can" || w.norm == "will" {
			return false // it asks for or promises something
		}
	}
	first := ws[0].norm
	if has(remarkOpeners, first) || bracketed && (first == "you" || first == "needs" || first == "which") {
		return true
	}
	for k := 1; k <= 3 && k < len(ws); k++ {
		if ws[k-1].brkAfter {
			return false
		}
		if has(copulaWords, ws[k].norm) {
			// "lead time is 5 weeks", "the fix is trivial"; not "this is…"
			return !has(englishStop, first) || first == "the"
		}
	}
	return false
}

// dropDatePhrase removes the phrase due was read from, when it is a
// deadline ("by Friday", "before the 15th", "no later than 15 June") or
// ends the text ("… tonight", "… this week").
func dropDatePhrase(text string, due recall.Date, ref time.Time, dates duedate.Options) string {
	p, ok := duedate.FindPhrase(text, ref, dates)
	if !ok || p.Date != due {
		return text
	}
	end := strings.TrimRight(text, " .!?)")
	switch p.Cue {
	case "by", "before", "until", "till", "no later than", "prior to", "due", "within", "in":
	case "for", "from", "to":
		return text
	default:
		if p.End < len(end) {
			return text
		}
	}
	out := strings.TrimRight(text[:p.Start], " ,;:—–-")
	if rest := strings.TrimSpace(text[p.End:]); rest != "" {
		if rest[0] == ',' || rest[0] == ';' || rest[0] == ')' || rest[0] == '.' {
			out += rest
		} else {
			out += " " + rest
		}
	}
	out = strings.TrimRight(out, " ,;:—–-")
	if len(splitWords(out)) < 2 {
		return text
	}
	return out
}

// schedulingVerbs set when something happens; a date after "for" or "to"
// is then the slot it gets, not when the task is due: "rebook the crane
// for the 6th", "schedule the episode for 25 June", "move the review to
// Friday".
var schedulingVerbs = wordSet(`schedule reschedule book rebook move push postpone plan set arrange reserve pencil slot`)

// isParameter reports whether the date phrase p of an item parameterises
// its task rather than dating it: see schedulingVerbs.
func isParameter(p duedate.Phrase, ws []word) bool {
	if p.Cue != "for" && p.Cue != "to" {
		return false
	}
	for _, w := range ws {
		if has(schedulingVerbs, w.norm) {
			return true
		}
		if has(actionVerbs, w.norm) {
			return false // the task's verb is another
		}
	}
	return false
}
