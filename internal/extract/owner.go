package extract

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules that name an item's owner, and the words they read.

// word is one whitespace-separated word of an item, its punctuation
// trimmed, with where it sits in the item's text.
type word struct {
	raw        string // as written, without surrounding punctuation or "@"
	norm       string // lower case, straight apostrophes
	start, end int32  // byte offsets of raw in the text
	cap        bool
	mention    bool // written as @name
	brkBefore  bool // punctuation (a comma, a dash, a colon) comes before it
	brkAfter   bool // punctuation comes after it
	open       bool // an opening bracket comes before it
	close      bool // a closing bracket comes after it
}

// splitWords splits an item into words. A run of punctuation on its own
// ("—", "->") marks a break between the words around it.
func splitWords(s string) []word {
	ws := make([]word, 0, strings.Count(s, " ")+1)
	pendingBrk := false
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' {
			j++
		}
		if i == j {
			break
		}
		field := s[i:j]
		a, b := 0, len(field)
		lead, trail := "", ""
		for a < b {
			r, n := utf8.DecodeRuneInString(field[a:])
			if isWordRune(r) {
				break
			}
			a += n
		}
		for b > a {
			r, n := utf8.DecodeLastRuneInString(field[a:b])
			if isWordRune(r) {
				break
			}
			b -= n
		}
		lead, trail = field[:a], field[b:]
		if a == b {
			// punctuation alone: a dash, an arrow, a bullet
			if len(ws) > 0 {
				ws[len(ws)-1].brkAfter = true
			}
			pendingBrk = true
			i = j
			continue
		}
		raw := field[a:b]
		norm := strings.ToLower(raw)
		if strings.Contains(norm, "’") {
			norm = strings.ReplaceAll(norm, "’", "'")
		}
		w := word{raw: raw, norm: norm, start: int32(i + a), end: int32(i + b)}
		first, _ := utf8.DecodeRuneInString(raw)
		w.cap = unicode.IsUpper(first)
		w.mention = strings.HasSuffix(lead, "@")
		w.open = strings.ContainsAny(lead, "([")
		w.close = strings.ContainsAny(trail, ")]")
		w.brkBefore = pendingBrk || strings.Trim(lead, "@") != ""
		w.brkAfter = trail != ""
		if w.brkBefore && len(ws) > 0 {
			ws[len(ws)-1].brkAfter = true
		}
		ws = append(ws, w)
		pendingBrk = w.brkAfter
		i = j
	}
	return ws
}

// Word classes the owner and task rules read.
var (
	firstPerson   = wordSet(`i i'll i'm i've i'd ill im ive we we'll we're we've we'd let's lets`)
	subjectless   = wordSet(`will shall need needs gotta happy`)
	requestModals = wordSet(`can could would will`)
	youWords      = wordSet(`you u y'all you're your`)
	pleaseWords   = wordSet(`please pls plz kindly`)
	ownerCues     = wordSet(`will shall should must can to needs need has have is 's owns owning`)
	determiners   = wordSet(`our the your their`)
	someone       = wordSet(`someone somebody anyone anybody everyone everybody all team folks guys`)
	groupNouns    = wordSet(`team squad group crew department dept office committee`)
	taskAdverbs   = wordSet(`also just quickly definitely probably then still actually really gladly happily`)
	notNames      = wordSet(`action actions ai todo fixme task tasks next steps note reminder update done owner owners due eta re fw fwd hi hey hello dear thanks ok okay yes no
first second third fourth fifth finally lastly secondly thirdly firstly also next then
agree aim attempt begin choose continue decide expect forget hope intend learn need offer plan prepare promise propose refuse remember start try want wish`)
)

// isNameWord reports whether w can be (part of) a person's or team's name:
// written with a capital or as @name, or known from the conversation as a
// speaker or mention, and not a function word, a date word or a task verb.
func (d *document) isNameWord(w word) bool {
	if w.mention {
		return true
	}
	if w.norm == "" || !hasLetter(w.norm) || strings.ContainsAny(w.norm, "0123456789") {
		return false
	}
	base := strings.TrimSuffix(w.norm, "'s")
	known := d.names[w.norm] || d.names[base] || d.attendees()[base]
	if !w.cap && !known {
		return false
	}
	if has(englishStop, w.norm) || has(notNames, w.norm) || has(dateWords, w.norm) {
		return false
	}
	return known || (!has(actionVerbs, w.norm) && !has(actionVerbs, stem(w.norm)))
}

var parenRE = regexp.MustCompile(`\([^)]*\)`)

// attendees returns the words of the names in the conversation's attendee
// lists: "Attendees:", "Present:", "ppl:" lines.
func (d *document) attendees() map[string]bool {
	if d.people != nil {
		return d.people
	}
	d.people = map[string]bool{}
	for i := range d.units {
		u := &d.units[i]
		if u.labelEnd == 0 || !u.meta || u.labelEnd > len(u.text) {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(u.text[:u.labelEnd-1])) {
		case "attendees", "present", "participants", "ppl", "people":
		default:
			continue
		}
		list := parenRE.ReplaceAllString(u.text[u.labelEnd:], ",") // "Derek (site manager)" is Derek
		for _, part := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ';' || r == '·' }) {
			if ws := strings.Fields(part); len(ws) >= 1 && len(ws) <= 3 {
				for _, w := range ws {
					w = strings.ToLower(strings.Trim(w, ".:"))
					if hasLetter(w) && !has(englishStop, w) {
						d.people[w] = true
					}
				}
			}
		}
	}
	return d.people
}

// nameLen returns how many words at ws[i:] make a name: "Alice", "@bob",
// "M. Lindqvist", "Logistics Ops", "Alice and Bob", "Chris & Priya".
func (d *document) nameLen(text string, ws []word, i int) int {
	if i >= len(ws) || !d.isNameWord(ws[i]) {
		return 0
	}
	n := 1
	for i+n < len(ws) && n < 6 {
		prev, next := ws[i+n-1], ws[i+n]
		if text == "" {
			return n
		}
		gap := strings.TrimSpace(text[prev.end:next.start])
		switch {
		case gap == "" && prev.cap && next.cap && !prev.mention && d.isNameWord(next):
			n++ // "Logistics Ops", "Data Protection Officer"
		case gap == "." && prev.cap && utf8.RuneCountInString(prev.raw) == 1 && next.cap && d.isNameWord(next):
			n++ // an initial: "M. Lindqvist"
		case gap == "&" && d.isNameWord(next):
			n++
		case gap == "" && next.norm == "and" && i+n+1 < len(ws) && strings.TrimSpace(text[next.end:ws[i+n+1].start]) == "" && d.isNameWord(ws[i+n+1]):
			n += 2
		default:
			return n
		}
	}
	return n
}

// nameText writes the name of ws[i:i+n] as the text has it, without "@".
func nameText(text string, ws []word, i, n int) string {
	if n == 1 {
		return ws[i].raw
	}
	return strings.TrimLeft(text[ws[i].start:ws[i+n-1].end], "@")
}

// ownerOf names the item's owner as the conversation gives it, or "". The
// steps go from the most explicit naming to the least: a task tag, a name
// that opens a clause, "assigned to", a name on a task line or over its
// list, and last the speaker or the person a request is spoken to.
func (d *document) ownerOf(c *actionItem, ws []word) (string, ownerHow) {
	u := &d.units[c.unit]
	if u.said == saidTag {
		return u.speaker, ownerNamed // "TODO(alice):", "Action (Bob):", a table's owner cell
	}
	starts := clauseStarts(ws)
	if name := d.clauseOwner(c.task, ws, starts); name != "" {
		return name, ownerNamed
	}
	if name := d.assignedOwner(c.task, ws); name != "" {
		return name, ownerNamed
	}
	taskLine := u.open || u.marker || u.section || u.bullet
	if taskLine {
		if name := d.taskLineOwner(c, ws); name != "" {
			return name, ownerNamed
		}
	}
	return d.speakerOwner(c, ws, starts, taskLine)
}

// clauseOwner reads a name that opens a clause of the item and either
// takes the task ("Alice will…", "Bob to…", "Logistics Ops will…", also
// after a dash: "… not issued — Aoife to issue rev C") or is spoken to
// ("Marco, can you…", "Karen could you…", "@kofi can you…", "Tom —
// please…", "Farah — update the doc").
func (d *document) clauseOwner(text string, ws []word, starts []int) string {
	for _, i := range starts {
		j := i
		if has(determiners, ws[j].norm) && j+1 < len(ws) && ws[j+1].cap {
			j++ // "Our Data Protection Officer will…"
		}
		if n := d.nameLen(text, ws, j); n > 0 && j+n < len(ws) && !ws[j+n-1].brkAfter {
			cue := j + n
			if has(groupNouns, ws[cue].norm) && cue+1 < len(ws) {
				cue++ // "Ravi's squad owns this"
			}
			if d.ownerCue(ws, cue) {
				return trimPossessive(nameText(text, ws, j, n))
			}
		}
		if n := d.nameLen(text, ws, i); n > 0 && i+n < len(ws) {
			next := i + n
			addressed := ws[next-1].brkAfter || ws[i].mention || d.isRequest(ws, next)
			if addressed && !has(firstPerson, ws[next].norm) && d.spokenTo(ws, next) {
				return nameText(text, ws, i, n)
			}
		}
	}
	return ""
}

// assignedOwner reads "assigned to Bob", "assignee: Nikos", "owner:
// Yusuf", "requested by Hana".
func (d *document) assignedOwner(text string, ws []word) string {
	for i := 0; i+1 < len(ws); i++ {
		at := -1
		switch ws[i].norm {
		case "assigned", "owned", "requested", "handled":
			if ws[i+1].norm == "to" || ws[i+1].norm == "by" {
				at = i + 2
			}
		case "assignee", "owner", "assign":
			at = i + 1
		case "be":
			// "to be requested by Hana"
			if i+3 < len(ws) && ws[i+2].norm == "by" && (strings.HasSuffix(ws[i+1].norm, "ed") || has(participles, ws[i+1].norm)) {
				at = i + 3
			}
		}
		if at > 0 {
			if n := d.nameLen(text, ws, at); n > 0 {
				return nameText(text, ws, at, n)
			}
		}
	}
	return ""
}

// taskLineOwner reads the owner a task line names in brackets or after a
// dash ("Write the template (Wen) — by Thursday", "Decommission it —
// Omar, EOW"), or the heading over its list: "Editing (Chris)" gives its
// tasks to Chris, and "What we need from you:" to the person the message
// is to.
func (d *document) taskLineOwner(c *actionItem, ws []word) string {
	text := c.task
	for i := len(ws) - 1; i >= 0; i-- {
		if ws[i].open {
			if n := d.nameLen(text, ws, i); n > 0 && n <= 3 && ws[i+n-1].close {
				return nameText(text, ws, i, n)
			}
		}
		if i > 0 && ws[i].brkBefore && (i+1 == len(ws) || ws[i].brkAfter) && strings.ContainsAny(text[ws[i-1].end:ws[i].start], "—–-") {
			if d.nameLen(text, ws, i) == 1 {
				return ws[i].raw
			}
		}
	}
	return d.headingOwner(c.unit)
}

// speakerOwner gives the item to whoever said it when it is theirs ("I'll…",
// "we need to…", "let's…", and notes that drop the subject: "will write a
// test today"), to the person spoken to when it is a request, to someone
// named just before for "he'll…", and to the speaker of a task list.
func (d *document) speakerOwner(c *actionItem, ws []word, starts []int, taskLine bool) (string, ownerHow) {
	u := &d.units[c.unit]
	speaker := u.speaker
	if speaker == "" {
		speaker = u.author()
	}
	request := -1
	for _, i := range starts {
		if ws[i].open {
			continue // "(needs a date and a speaker)" remarks on the task
		}
		i = d.afterVocative(ws, i)
		if d.isRequest(ws, i) {
			request = i
			break
		}
		w := ws[i].norm
		if w == "he'll" || w == "she'll" || (w == "he" || w == "she") && i+1 < len(ws) && ws[i+1].norm == "will" {
			// "tomas had problems with the confocal. he'll email …"
			if name := d.unitSubject(c.unit); name != "" {
				return name, ownerNamed
			}
		}
		if has(firstPerson, w) || (w == "let" && i+1 < len(ws) && (ws[i+1].norm == "me" || ws[i+1].norm == "us")) || has(subjectless, w) || offerOpener(ws, i) > i {
			return speaker, ownerSpeaker
		}
	}
	if request >= 0 {
		return d.addressee(c.unit)
	}
	// "Tom: audit the ledger" in a task list, and an imperative in the
	// list under someone's name, are that person's.
	if speaker != "" && (taskLine && u.said == saidLine || u.said == saidHeader) {
		return speaker, ownerSpeaker
	}
	return "", ownerNone
}

// clauseStarts lists where the item's clauses begin: its first word after
// fillers, and each word after a comma, dash, colon or semicolon.
func clauseStarts(ws []word) []int {
	var out []int
	for i := 0; i < len(ws); i++ {
		if i == 0 || ws[i].brkBefore {
			k := skipWords(ws, skipFiller(ws, i), itemFiller)
			if len(out) == 0 || out[len(out)-1] != k {
				out = append(out, k)
			}
			i = k
		}
	}
	return out
}

// headingOwner reads the owner a section's heading names: "Editing
// (Chris)", "Backend — Alice", or, for "What we need from you:", the
// person the message is to.
func (d *document) headingOwner(ui int) string {
	for i := ui - 1; i >= 0; i-- {
		h := &d.units[i]
		if !h.heading {
			continue
		}
		ws := splitWords(h.text)
		if n := len(ws); n >= 2 {
			last := ws[n-1]
			if (last.open && last.close || last.brkBefore && strings.ContainsAny(h.text[ws[n-2].end:last.start], "—–")) && d.nameLen(h.text, ws, n-1) == 1 {
				return last.raw
			}
		}
		if d.units[ui].to() != "" && slices.ContainsFunc(ws, func(w word) bool { return w.norm == "you" || w.norm == "your" }) {
			return d.units[ui].to()
		}
		return ""
	}
	return ""
}

// unitSubject is the name a unit opens with ("tomas had problems …"), or "".
func (d *document) unitSubject(ui int) string {
	u := &d.units[ui]
	ws := splitWords(u.text)
	if n := d.nameLen(u.text, ws, 0); n > 0 {
		return trimPossessive(nameText(u.text, ws, 0, n))
	}
	return ""
}

func trimPossessive(s string) string {
	return strings.TrimSuffix(strings.TrimSuffix(s, "'s"), "’s")
}

// ownerCue reports whether ws[i:] assigns a task to the name before it:
// "will", "to", "needs to", "is going to", "owns".
func (d *document) ownerCue(ws []word, i int) bool {
	if i >= len(ws) {
		return false
	}
	w := ws[i].norm
	next := func(k int) string {
		if i+k < len(ws) {
			return ws[i+k].norm
		}
		return ""
	}
	switch {
	case w == "is" || w == "'s":
		return next(1) == "going" && next(2) == "to"
	case w == "needs" || w == "need" || w == "has" || w == "have":
		return next(1) == "to"
	case w == "can" || w == "could":
		if (next(1) == "do" || next(1) == "make") && (has(dateWords, next(2)) || strings.ContainsAny(next(2), "0123456789")) {
			return false // "Gareth can do Tuesday 16 June" says when he is free
		}
		return next(1) != "" && !has(someone, next(1))
	case w == "to":
		return next(1) != ""
	}
	return has(ownerCues, w)
}

// spokenTo reports whether ws[i:] speaks to someone: a request ("can you",
// "please"), a "you" sentence, or an imperative.
func (d *document) spokenTo(ws []word, i int) bool {
	if i >= len(ws) {
		return false
	}
	w := ws[i].norm
	return d.isRequest(ws, i) || has(youWords, w) || has(actionVerbs, w) || has(actionVerbs, stem(w)) || w == "to" || has(modals, w)
}

// isRequest reports whether ws[i:] asks someone to do something: "can
// you…", "could you please…", "please…", "you need to…".
func (d *document) isRequest(ws []word, i int) bool {
	if i >= len(ws) {
		return false
	}
	w := ws[i].norm
	next := ""
	if i+1 < len(ws) {
		next = ws[i+1].norm
	}
	switch {
	case has(pleaseWords, w):
		return true
	case has(requestModals, w):
		return has(youWords, next)
	case w == "you" || w == "u":
		return next == "need" || next == "should" || next == "must" || next == "have" || next == "will"
	}
	return politeRequest(ws, i) > i // "we would be grateful if you could…"
}

// addressee is whom a request in unit ui speaks to when it names nobody:
// the other person of a two-person conversation, or else the person the
// message answers (the speaker of the line just before, if another). In a
// group that is a reading of who is talking to whom, so it stops there.
func (d *document) addressee(ui int) (string, ownerHow) {
	u := &d.units[ui]
	// "Yuki — the video needs captions. Can you get them ordered?"
	head := u.text
	if len(head) > 48 {
		if i := strings.LastIndexByte(head[:48], ' '); i > 0 {
			head = head[:i]
		}
	}
	if ws := splitWords(head); len(ws) > 1 {
		if n := d.nameLen(head, ws, 0); n > 0 && n < len(ws) && strings.ContainsAny(head[ws[n-1].end:ws[n].start], ",—–") {
			return nameText(head, ws, 0, n), ownerNamed
		}
	}
	if to := u.to(); to != "" {
		return to, ownerNamed // "Hi Raj," … "could you send…"
	}
	if u.said != saidLine {
		return "", ownerNone
	}
	if a, b := d.chatPair(); a != "" {
		switch {
		case strings.EqualFold(u.speaker, a):
			return b, ownerNamed // the only other person there
		case strings.EqualFold(u.speaker, b):
			return a, ownerNamed
		}
	}
	for i := ui - 1; i >= 0 && i >= ui-2; i-- {
		p := &d.units[i]
		if p.speaker == "" || p.said != saidLine {
			return "", ownerNone
		}
		if !strings.EqualFold(p.speaker, u.speaker) {
			return p.speaker, ownerReplied
		}
	}
	return "", ownerNone
}

// chatPair returns the two people of a conversation in which exactly two
// speak, or "", "".
func (d *document) chatPair() (string, string) {
	if !d.pairDone {
		d.pairDone = true
		for i := range d.units {
			s := d.units[i].speaker
			switch {
			case s == "" || d.units[i].said != saidLine:
			case d.pair[0] == "" || strings.EqualFold(s, d.pair[0]):
				d.pair[0] = s
			case d.pair[1] == "" || strings.EqualFold(s, d.pair[1]):
				d.pair[1] = s
			default:
				d.pair = [2]string{}
				return "", ""
			}
		}
		if d.pair[1] == "" {
			d.pair = [2]string{}
		}
	}
	return d.pair[0], d.pair[1]
}

// skipFiller returns the index of the first word after fillers ("ok so",
// "yep") and interjections followed by punctuation ("thanks,").
func skipFiller(ws []word, i int) int {
	for i < len(ws)-1 && (has(fillerWords, ws[i].norm) || (has(interjections, ws[i].norm) && ws[i].brkAfter)) {
		i++
	}
	return i
}
