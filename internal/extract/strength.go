package extract

import "strings"

// actionStrength scores a sentence as an action item; 0 means it is not one.
// The rules read the sentence's words, not its grammar, and err on the
// side of commitments made in the first person, requests, named owners and
// imperatives in lists or chat. Each step below reads one kind of cue; the
// sentence scores the strongest it finds, one more when it has a deadline.
func actionStrength(d *document, s *sentence, u *unit) int {
	if len(s.toks) == 0 {
		return 0
	}
	r := &strengthReader{d: d, t: s.toks}
	start := r.skipFillers()
	if r.asksQuestion(start, s.text) || r.conditional(start) || r.asksForInformation(start) {
		return 0
	}
	best := r.subjectlessNote(start)
	for i := start; i < len(r.t); i++ {
		best = max(best, r.cueAt(i, start))
	}
	start = r.skipDeterminer(start)
	best = max(best, r.namedOwner(start), r.groupOwner(start), r.passiveByName(start))
	if best == 0 {
		best = max(r.ownerAfterBreak(start), r.vocativeImperative(start))
	}
	if best == 0 {
		best = r.listImperative(start, s, u)
	}
	if best > 0 && best < explicit && hasDueDate(r.t) {
		best++
	}
	return best
}

// strengthReader reads the tokens of one sentence for actionStrength.
type strengthReader struct {
	d *document
	t []token
	// planned is set when the sentence opens with a stand-up label ("t:",
	// "today:"): an imperative after it is a plan for the day, not a task.
	planned bool
}

// w is the word at i, or "" outside the sentence.
func (r *strengthReader) w(i int) string {
	if i < 0 || i >= len(r.t) {
		return ""
	}
	return r.t[i].norm
}

// verbAt skips adverbs ("I'll also send", "let's quickly check") and
// returns the verb's index, or -1 when punctuation intervenes.
func (r *strengthReader) verbAt(i int) int {
	t := r.t
	for i < len(t) && has(adverbs, t[i].norm) && !t[i].brk {
		i++
	}
	if i >= len(t) || t[i].brk {
		return -1
	}
	return i
}

// committed: after "will", a verb that describes doing something; "be"
// only as "be sending", not "be out".
func (r *strengthReader) committed(i int) bool {
	t := r.t
	v := r.verbAt(i)
	if v < 0 || !t[v].letter {
		return false
	}
	if t[v].norm == "be" {
		n := r.w(v + 1)
		return strings.HasSuffix(n, "ing") && len(n) > 4 && n != "being" && !t[v+1].brk
	}
	return !has(notCommitments, t[v].norm)
}

// actionVerb reports whether a task verb comes at i, after adverbs.
func (r *strengthReader) actionVerb(i int) bool {
	v := r.verbAt(i)
	return v >= 0 && (has(actionVerbs, r.t[v].norm) || has(actionVerbs, r.t[v].stem))
}

// passiveOK accepts a commitment or a passive: "need to be updated",
// "must be fixed".
func (r *strengthReader) passiveOK(i int) bool {
	v := r.verbAt(i)
	if v < 0 {
		return false
	}
	if r.t[v].norm != "be" {
		return r.committed(i)
	}
	n := r.w(v + 1)
	return v+1 < len(r.t) && !r.t[v+1].brk && (strings.HasSuffix(n, "ed") || strings.HasSuffix(n, "en") || has(participles, n))
}

// skipFillers returns where the sentence starts after chat fillers ("ok
// so") and interjections followed by punctuation ("thanks,").
func (r *strengthReader) skipFillers() int {
	t := r.t
	start := 0
	for start < len(t)-1 && (has(fillerWords, t[start].norm) || (has(interjections, t[start].norm) || has(standupLabels, t[start].norm)) && t[start+1].brk) {
		r.planned = r.planned || has(standupLabels, t[start].norm) && t[start+1].brk
		start++
	}
	return start
}

// standupLabels open the lines of a stand-up: "t: will get it merged
// today", "blockers: none".
var standupLabels = wordSet(`y t b yesterday today tomorrow blockers blocker plan plans next`)

// asksQuestion reports whether the sentence asks for information ("did
// the build pass?") rather than for an action ("will you send it?").
func (r *strengthReader) asksQuestion(start int, text string) bool {
	return has(questionStarts, r.w(start)) && endsWithQuestion(text) && !(r.w(start+1) == "you" && (r.w(start) == "will" || r.w(start) == "would"))
}

// conditional reports whether the sentence only says what to do if
// something happens that the reader decides: "If you can take one of
// these, reply to this email", "If they are not found by Friday, we will
// issue a credit", "Please comment by Tuesday if you disagree". A polite
// request is no condition ("if you could return the signed copy", "if
// possible, please…"), nor is a condition of the task itself ("page Petra
// if the error rate goes above 2%").
func (r *strengthReader) conditional(start int) bool {
	t := r.t
	if r.w(start) == "if" {
		n := 1 // the if-clause's length, to the first break
		for start+n < len(t) && !t[start+n].brk {
			n++
		}
		if n >= 3 && !r.politeIf(start) {
			return true
		}
	}
	for i := start + 1; i+2 < len(t); i++ {
		if r.w(i) == "if" && (has(youWords, r.w(i+1)) || r.w(i+1) == "anyone" || r.w(i+1) == "anybody") && !r.politeIf(i) && !r.bareCan(i+2) {
			return true
		}
	}
	return false
}

// bareCan reports whether a "can" at i ends its clause: "send it by Friday
// if you can" asks politely; "reply if you can take one" sets a condition.
func (r *strengthReader) bareCan(i int) bool {
	return r.w(i) == "can" && (i+1 >= len(r.t) || r.t[i+1].brk)
}

// politeIf reports whether the "if" at i opens a polite request: "if you
// could…", "if you would…".
func (r *strengthReader) politeIf(i int) bool {
	return has(youWords, r.w(i+1)) && (r.w(i+2) == "could" || r.w(i+2) == "would")
}

// asksForInformation reports whether a request only asks to be told
// something: "could you tell me which workspace this is for", "let me know
// who owns it". Asking to be told when something happens ("let me know
// when it's deployed") or what someone chose ("let me know your choice")
// stays a task.
func (r *strengthReader) asksForInformation(start int) bool {
	for i := start; i+2 < len(r.t); i++ {
		if (r.w(i) != "tell" && r.w(i) != "let") || r.w(i+1) != "me" {
			continue
		}
		k := i + 2
		if r.w(k) == "know" {
			k++
		}
		switch r.w(k) {
		case "which", "what", "who", "whom", "whether", "where", "how", "why":
			return true
		}
	}
	return false
}

// subjectlessNote reads notes that drop the subject: "Will write a
// failing test today."
func (r *strengthReader) subjectlessNote(start int) int {
	if r.w(start) == "will" && r.w(start+1) != "you" && r.committed(start+1) && r.verbAt(start+1)+1 < len(r.t) {
		return owned
	}
	return 0
}

// cueAt scores the cue that starts at word i, if any: a task label, a
// first-person commitment, a suggestion for the group, a request, a need,
// or an @mention followed by a task.
func (r *strengthReader) cueAt(i, start int) int {
	best := 0
	switch r.w(i) {
	case "todo", "fixme", "to-do":
		best = explicit
	case "happy", "glad", "willing":
		best = r.offerCue(i, start)
	case "i'll", "he'll", "she'll", "i", "i'm", "i've":
		best = r.selfCue(i)
	case "let", "let's", "lets", "we'll", "we", "we're":
		best = r.groupCue(i, start)
	case "can", "could", "would", "will", "please", "pls", "plz", "you":
		best = r.requestCue(i)
	case "someone", "somebody", "anyone", "need", "needs", "make", "remember", "forget":
		best = r.needCue(i)
	}
	b := r.w(i + 1)
	if r.t[i].mention && (r.actionVerb(i+1) || (b == "to" && r.actionVerb(i+2)) || b == "please") {
		best = max(best, owned)
	}
	return best
}

// selfCue reads a commitment in the first person singular: "I'll send",
// "I will", "I can fix", "I need to", "I'm going to"; and "he'll email"
// about someone named before.
func (r *strengthReader) selfCue(i int) int {
	a, b, c := r.w(i), r.w(i+1), r.w(i+2)
	switch a {
	case "i'll":
		if r.committed(i + 1) {
			return owned
		}
	case "he'll", "she'll":
		// "tomas … he'll email the facility manager"
		if r.actionVerb(i + 1) {
			return owned
		}
	case "i":
		switch {
		case b == "will" || b == "shall" || b == "must":
			if r.committed(i + 2) {
				return owned
			}
		case b == "can" || b == "should":
			if r.actionVerb(i+2) || (c == "do" && hasObject(r.t, i+2)) {
				return owned
			}
			if c == "have" && hasDueDate(r.t) {
				// "I can have autoscaling in place by the 15th"
				return owned
			}
		case (b == "need" || b == "have" || b == "got") && c == "to":
			if r.committed(i + 3) {
				return owned
			}
		case b == "am" && c == "going" && r.w(i+3) == "to":
			if r.committed(i + 4) {
				return owned
			}
		}
	case "i'm":
		if b == "going" && c == "to" && r.committed(i+3) {
			return owned
		}
	case "i've":
		if b == "got" && c == "to" && r.committed(i+3) {
			return owned
		}
	}
	return 0
}

// offerCue reads an offer: "happy to sort it again", "I'm glad to help
// with the move", "I'd be willing to review it".
func (r *strengthReader) offerCue(i, start int) int {
	if r.w(i+1) != "to" || !r.actionVerb(i+2) {
		return 0
	}
	switch p := r.w(i - 1); {
	case i == start || r.t[i].brk, p == "i'm" || p == "am" || p == "be" || p == "i'd":
		return owned
	}
	return 0
}

// groupCue reads a suggestion for the group ("let's", "we'll", "we
// should", "we need to", "we're going to") and "let me" offers.
func (r *strengthReader) groupCue(i, start int) int {
	a, b, c := r.w(i), r.w(i+1), r.w(i+2)
	switch a {
	case "let":
		if b == "me" && r.actionVerb(i+2) && c != "know" {
			return owned
		}
		if b == "us" && r.committed(i+2) && c != "see" && c != "hope" {
			return weak
		}
	case "let's", "lets":
		if (a == "let's" || i == start) && r.committed(i+1) && b != "see" && b != "hope" && b != "say" && !meetingMove(b, c) {
			return weak
		}
	case "we'll":
		if r.committed(i + 1) {
			return weak
		}
	case "we":
		switch {
		case has(modals, b):
			if r.passiveOK(i + 2) {
				return weak
			}
		case (b == "need" || b == "have") && c == "to", b == "ought" && c == "to":
			if r.passiveOK(i + 3) {
				return weak
			}
		case b == "are" && c == "going" && r.w(i+3) == "to":
			if r.committed(i + 4) {
				return weak
			}
		}
	case "we're":
		if b == "going" && c == "to" && r.committed(i+3) {
			return weak
		}
	}
	return 0
}

// requestCue reads a request: "can you…", "could someone…", "please…",
// "you need to…", "if you could return…", "can we…".
func (r *strengthReader) requestCue(i int) int {
	t := r.t
	a, b, c := r.w(i), r.w(i+1), r.w(i+2)
	best := 0
	switch a {
	case "can", "could", "would", "will":
		if b == "you" || b == "u" || b == "someone" || b == "somebody" || b == "anyone" || b == "y'all" {
			v := i + 2
			if c == "please" {
				v++
			}
			if vi := r.verbAt(v); vi >= 0 && t[vi].letter && !has(notRequests, t[vi].norm) && !has(stopVerbs, t[vi].norm) {
				best = owned
			}
		}
		if (a == "can" || a == "could") && b == "we" && r.actionVerb(i+2) {
			best = max(best, weak)
		}
	case "please", "pls", "plz":
		// "yes pls Amara!" answers an offer; it asks for nothing new.
		if v := r.verbAt(i + 1); v >= 0 && !pleaseIsPolite(t, v) && (!r.d.isName(t[v]) || has(actionVerbs, t[v].norm)) {
			best = owned
		}
	case "you":
		if (b == "need" || b == "have") && c == "to" && r.passiveOK(i+3) {
			best = owned
		}
		if r.w(i-1) == "if" && (b == "could" || b == "would") && r.actionVerb(i+2) {
			// "we would be grateful if you could return the signed copy"
			best = owned
		}
		if (b == "should" || b == "must") && r.actionVerb(i+2) {
			best = max(best, weak)
		}
	}
	return best
}

// needCue reads a need without an owner: "someone needs to update the
// runbook", "need to renew the cert", "make sure…", "remember to…",
// "don't forget to…".
func (r *strengthReader) needCue(i int) int {
	a, b, c := r.w(i), r.w(i+1), r.w(i+2)
	switch a {
	case "someone", "somebody", "anyone":
		if (b == "should" || b == "must") && r.passiveOK(i+2) || (b == "needs" || b == "has") && c == "to" && r.passiveOK(i+3) {
			return weak
		}
	case "need", "needs":
		if b == "to" && !has(negations, r.w(i-1)) && r.passiveOK(i+2) {
			return weak
		}
	case "make", "remember", "forget":
		if (a == "make" && b == "sure") || (a == "remember" && b == "to") || (a == "forget" && b == "to" && has(negations, r.w(i-1))) {
			return weak
		}
	}
	return 0
}

// skipDeterminer moves start past "our" or "the" before a capitalised
// owner: "Our Data Protection Officer will send …".
func (r *strengthReader) skipDeterminer(start int) int {
	if (r.w(start) == "our" || r.w(start) == "the") && start+1 < len(r.t) && r.t[start+1].cap && ownerLength(r.d, r.t, start+1) > 0 {
		return start + 1
	}
	return start
}

// namedOwner reads a sentence that opens with its owner: "Alice will…",
// "Bob to…", "QA needs to…", "Dana is going to…", "Ravi owns…".
func (r *strengthReader) namedOwner(start int) int {
	t := r.t
	o := ownerLength(r.d, t, start)
	if o == 0 {
		return 0
	}
	if start+o < len(t) && has(groupNouns, t[start+o].norm) && !t[start+o].brk {
		o++ // "Ravi's squad owns this"
	}
	name := r.d.isName(t[start])
	a, b, c := r.w(start+o), r.w(start+o+1), r.w(start+o+2)
	switch {
	case a == "will" || a == "shall" || a == "should" || a == "can":
		if (name && r.committed(start+o+1)) || (r.actionVerb(start+o+1) && hasObject(t, r.verbAt(start+o+1))) {
			return owned
		}
	case (a == "is" || a == "'s") && b == "going" && c == "to":
		if r.committed(start+o+3) && (name || hasObject(t, r.verbAt(start+o+3))) {
			return owned
		}
	case (a == "needs" || a == "need" || a == "has" || a == "have") && b == "to":
		if r.passiveOK(start + o + 2) {
			return owned
		}
	case a == "to":
		if r.actionVerb(start+o+1) && (name || !has(keywordSkip, t[start].norm)) {
			return owned
		}
	case a == "owns" || a == "owning":
		return owned
	}
	return 0
}

// groupOwner reads a team or a whole group that takes a task without a
// name: "Our support team will schedule the workshop", "All subcontractors
// must send updated RAMS", "Every driver needs to renew the badge".
func (r *strengthReader) groupOwner(start int) int {
	i := start
	switch r.w(i) {
	case "our", "your":
		// The writer's or the reader's own team; "the platform team will
		// present…" reports what others do.
		for k := i + 1; k <= i+3 && k < len(r.t); k++ {
			if r.t[k].brk {
				return 0
			}
			if has(groupNouns, r.t[k].norm) {
				return r.groupTakes(k + 1)
			}
		}
	case "all", "every", "each":
		if k := i + 1; k < len(r.t) && !r.t[k].brk && r.t[k].letter && !r.t[k].stop {
			if r.groupTakes(k+1) > 0 || r.groupTakes(k+2) > 0 && !r.t[k+1].brk && !r.t[k+1].stop {
				return weak
			}
		}
	}
	return 0
}

// groupTakes reads what follows a group's name: "will schedule", "to
// send", "needs to renew", "must send".
func (r *strengthReader) groupTakes(k int) int {
	switch a, b := r.w(k), r.w(k+1); {
	case a == "will" || a == "shall" || a == "should" || a == "must" || a == "to":
		if r.actionVerb(k + 1) {
			return owned
		}
	case (a == "needs" || a == "need" || a == "has" || a == "have") && b == "to":
		if r.actionVerb(k + 2) {
			return owned
		}
	}
	return 0
}

// passiveByName reads a task given in the passive to a named person:
// "Security review to be requested by Hana by 15 June".
func (r *strengthReader) passiveByName(start int) int {
	t := r.t
	for i := start; i+4 < len(t); i++ {
		if r.w(i) != "to" || r.w(i+1) != "be" || r.w(i+3) != "by" || t[i+2].brk || t[i+3].brk {
			continue
		}
		if n := r.w(i + 2); (strings.HasSuffix(n, "ed") || has(participles, n)) && ownerLength(r.d, t, i+4) > 0 {
			return owned
		}
	}
	return 0
}

// ownerAfterBreak reads an owner named after punctuation or "asked": "…
// still not issued — Aoife to issue rev C", "the Chair asked S. Brennan
// to draft a notice".
func (r *strengthReader) ownerAfterBreak(start int) int {
	t := r.t
	for i := start + 1; i < len(t)-2; i++ {
		if !t[i].brk && r.w(i-1) != "asked" {
			continue
		}
		if o := ownerLength(r.d, t, i); o > 0 && r.w(i+o) == "to" && r.actionVerb(i+o+1) {
			return owned
		}
	}
	return 0
}

// vocativeImperative reads a sentence spoken to someone by name that
// gives them a task in a later clause: "Ahmed, you're on the press list:
// update it and draft the embargo email".
func (r *strengthReader) vocativeImperative(start int) int {
	t := r.t
	if start+2 >= len(t) || !t[start+1].brk || !t[start].cap || t[start].stop || !t[start].letter ||
		has(dateWords, t[start].norm) || has(notNames, t[start].norm) || has(actionVerbs, t[start].norm) {
		return 0
	}
	for i := start + 2; i+1 < len(t); i++ {
		if t[i].brk && has(actionVerbs, t[i].norm) && imperative(t, i) {
			return owned
		}
	}
	return 0
}

// listImperative reads an imperative ("Update the runbook"), which is a
// task in a list or a chat, or anywhere it has a due date.
func (r *strengthReader) listImperative(start int, s *sentence, u *unit) int {
	t := r.t
	i := start
	if r.planned {
		return 0
	}
	if r.w(i) == "please" {
		i++
	}
	if i < len(t) && has(actionVerbs, t[i].norm) && imperative(t, i) && (u.bullet || u.speaker != "" || hasDueDate(t)) && !endsWithQuestion(s.text) {
		return weak
	}
	return 0
}

// meetingMove reports whether "let's" b c only steers the meeting itself:
// "let's start with the numbers", "let's move on", "let's go through the
// open items", "let's wrap up".
func meetingMove(b, c string) bool {
	switch b {
	case "start", "begin", "kick":
		return c == "with" || c == "by" || c == "off" || c == ""
	case "move", "carry":
		return c == "on"
	case "go":
		return c == "through" || c == "over" || c == "around" || c == "on"
	case "wrap":
		return c == "up"
	case "get":
		return c == "started"
	case "recap", "continue", "reconvene":
		return true
	}
	return false
}
