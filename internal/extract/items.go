package extract

import (
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"recall/internal/duedate"
	"recall/internal/recall"
)

// MaxItems bounds the structured items of one analysis. It is larger than
// MaxActionItems, which stays as it was for the plain strings: long
// minutes hold more than ten tasks, and a person ticking them off needs
// all of them.
const MaxItems = 20

// structuredItems turns the strongest MaxItems action items into
// recall.ActionItems: the task without its owner's name and the words that
// only assign it ("Alice will", "can you", "I'll"), the owner the text
// names, and the due date its words give, resolved against ref. Owner and
// due are nil when the text gives none: nothing is guessed from outside the
// conversation. In a chat, a request and the reply that takes it on ("can
// you update the wiki?" / "sure, tomorrow") make one item, owned by whoever
// took it, due when they said.
func structuredItems(d *document, found []actionItem, ref time.Time, dates duedate.Options) []recall.ActionItem {
	found, wss := d.splitClauses(found)
	built, bySent := d.buildItems(found, wss, ref, dates)
	if len(found) > 0 {
		d.joinReplies(found, built, bySent, ref, dates)
		d.addContext(found, built, bySent)
		d.contextDue(found, built, ref, dates)
		d.joinParts(found, built)
		d.nameTheAsker(found, built)
		d.namePronouns(found, built)
		mergeRepeats(built)
		for i := range built {
			// "I'll own it" with nothing before it to say what "it" is
			// gives an item no one can act on.
			if b := &built[i]; !b.drop && (b.replaced || slices.ContainsFunc(b.ws, isPronoun)) && vague(b.words()) {
				b.drop = true
			}
		}
	}
	kept := make([]actionItem, 0, len(found))
	for i := range found {
		if !built[i].drop {
			c := found[i]
			c.built = i
			kept = append(kept, c)
		}
	}
	chosen := strongest(kept, MaxItems)
	out := make([]recall.ActionItem, 0, len(chosen))
	seen := make(map[string]bool, len(chosen))
	for _, c := range chosen {
		b := &built[c.built]
		b.text = finishText(b.text, b.due, ref, dates)
		it := recall.NewActionItem(truncateRunes(b.text, MaxActionItemRunes), b.owner, b.due)
		if seen[it.ID] {
			// "I'll send the deck" and "Bob will send the deck" are two
			// items; keep the second's own words so their IDs differ.
			it = recall.NewActionItem(truncateRunes(c.task, MaxActionItemRunes), b.owner, b.due)
		}
		if seen[it.ID] || !hasLetterOrDigit(it.Text) {
			continue
		}
		seen[it.ID] = true
		out = append(out, it)
	}
	return out
}

// buildItems makes a builtItem of each action item: its words, owner,
// task text and due date, read from its own sentence. It also indexes the
// items by the sentence they start at.
func (d *document) buildItems(found []actionItem, wss [][]word, ref time.Time, dates duedate.Options) ([]builtItem, map[int]int) {
	built := make([]builtItem, len(found))
	bySent := make(map[int]int, len(found))
	for i := range found {
		c := &found[i]
		b := &built[i]
		b.ws = wss[i]
		if len(b.ws) > 0 {
			// tidyItem capitalised the first word; whether it is a name
			// depends on how it was written.
			b.ws[0].cap = writtenUpper(c.source, b.ws[0].raw)
		}
		b.owner, b.how = d.ownerOf(c, b.ws)
		var lead int
		b.text, lead = d.taskText(c.task, b.ws)
		if p, ok := dueOf(c, lead, ref, dates); ok && !isParameter(p, b.ws) {
			b.due = &p.Date
		}
		if _, dup := bySent[c.pos]; !dup {
			bySent[c.pos] = i
		}
	}
	return built, bySent
}

// dueOf reads an item's due date from its words. When the task is a
// later clause of them, a date in the clauses before it is the task's only
// if it is a deadline ("The auditors want the register by 8 May — pull it
// together next week" is due 8 May); otherwise it dates something else
// ("Gareth can do Tuesday 16 June, can you confirm that works?" is not
// due on the 16th), and the task's clause gives the date, if any.
func dueOf(c *actionItem, lead int, ref time.Time, dates duedate.Options) (duedate.Phrase, bool) {
	p, ok := duedate.FindPhrase(c.source, ref, dates)
	if !ok || lead <= 0 || lead > len(c.task) {
		return p, ok
	}
	first, _ := duedate.FindPhrase(c.task, ref, dates)
	if first.End > lead {
		return p, ok // the first date is in the task's clause
	}
	switch first.Cue {
	case "by", "before", "until", "till", "no later than", "prior to", "due":
		return p, ok
	}
	return duedate.FindPhrase(c.task[lead:], ref, dates)
}

// mergeRepeats folds an item into a later one of the same owner that
// says all it says and more: "I need to update the forecast" and, further
// down, "I'll update the Q3 forecast once I have it, by end of next week".
// The fuller item stays, with the other's date if it has none.
func mergeRepeats(built []builtItem) {
	var words [][]string // content stems of each item, when it has an owner
	for i := range built {
		b := &built[i]
		if b.drop || b.owner == "" {
			words = append(words, nil)
			continue
		}
		words = append(words, contentStems(b.words()))
	}
	for i := range built {
		if len(words[i]) < 2 || built[i].drop {
			continue
		}
		for j := range built {
			if j == i || built[j].drop || len(words[j]) <= len(words[i]) || !sameName(built[i].owner, built[j].owner) {
				continue
			}
			if contains(words[j], words[i]) {
				if built[j].due == nil {
					built[j].due = built[i].due
				}
				built[i].drop = true
				break
			}
		}
	}
}

// contentStems lists the stems of the words of ws that carry content.
func contentStems(ws []word) []string {
	var out []string
	for _, w := range ws {
		if !has(englishStop, w.norm) && !has(itemFiller, w.norm) && hasLetter(w.norm) {
			out = append(out, stem(w.norm))
		}
	}
	return out
}

// splitClauses cuts an item in two where a later clause gives a second task
// to someone else: "I'll book the flights tonight, everyone send me your
// passport names" is Jess's task and everyone's.
func (d *document) splitClauses(found []actionItem) ([]actionItem, [][]word) {
	out := make([]actionItem, 0, len(found))
	wss := make([][]word, 0, len(found))
	for _, c := range found {
		ws := splitWords(c.task)
		starts := clauseStarts(ws)
		cut := -1
		if len(starts) < 2 || stripOpener(ws, d.stripSubject(c.task, ws, starts[0])) == starts[0] && !has(actionVerbs, ws[starts[0]].norm) {
			starts = nil // the first clause is no task of its own
		}
		for _, k := range starts[min(1, len(starts)):] {
			if k+2 >= len(ws) || k < 2 {
				continue
			}
			w := ws[k].norm
			if has(someone, w) && (has(actionVerbs, ws[k+1].norm) || has(pleaseWords, ws[k+1].norm)) ||
				d.afterVocative(ws, k) > k || has(requestModals, w) && has(youWords, ws[k+1].norm) ||
				(w == "i'll" || w == "i" && ws[k+1].norm == "will") && !has(firstPerson, ws[starts[0]].norm) {
				// … and "Our engineering team will add a warning; I'll
				// follow up when that ships": the speaker's own second task.
				cut = k
				break
			}
		}
		if cut < 0 {
			out, wss = append(out, c), append(wss, ws)
			continue
		}
		first, second := c, c
		second.clause = true
		first.task = strings.TrimRight(c.task[:ws[cut].start], " ,;—–-")
		second.task = capitalize(c.task[ws[cut].start:])
		if j := strings.Index(c.source, c.task[ws[cut].start:]); j > 0 {
			first.source, second.source = c.source[:j], c.source[j:]
		}
		out = append(out, first, second)
		wss = append(wss, splitWords(first.task), splitWords(second.task))
	}
	return out, wss
}

// builtItem is what structuredItems makes of one action item.
type builtItem struct {
	ws   []word // the words of the task as found
	text string
	tws  []word // the words of text, when split (see words)
	// replaced is set once text holds words from outside the task (a
	// reply's, the context before it).
	replaced bool
	owner    string
	how      ownerHow
	due      *recall.Date
	drop     bool // merged into the request it answers
	// context is the sentence addContext put before the text, whose date
	// the task may share.
	context int
}

// words returns the words of b.text, splitting it once.
func (b *builtItem) words() []word {
	if b.tws == nil {
		b.tws = splitWords(b.text)
	}
	return b.tws
}

// setText changes the item's text.
func (b *builtItem) setText(s string) { b.text, b.tws, b.replaced = s, nil, true }

// ownerHow says where an owner came from.
type ownerHow uint8

const (
	ownerNone    ownerHow = iota
	ownerNamed            // the item names them: "Bob to…", "@kofi can you", "(Wen)"
	ownerSpeaker          // they said it: "I'll…", "we need to…", their list
	ownerReplied          // inferred: the person a request in a chat answers
)

// joinReplies finds, for each request or open need in a chat ("can you…?",
// "could someone…?", "we need to…", "someone should…"), the reply that
// takes it on ("sure, tomorrow", "I can do that", "I'll take the runbook,
// by Thursday") and folds it in: the item's owner becomes whoever took it,
// its due date what they said, and the reply, when it only repeated the
// task ("will ring her tomorrow"), is no item of its own. A deadline said
// in the next sentence of the same message ("needs to be done by the 5th")
// is folded in the same way.
func (d *document) joinReplies(found []actionItem, built []builtItem, bySent map[int]int, ref time.Time, dates duedate.Options) {
	for i := range found {
		c, b := &found[i], &built[i]
		if b.drop {
			continue
		}
		u := &d.units[c.unit]
		if k := c.pos + 1; k < len(d.sents) && d.sents[k].unit == c.unit && !u.open && !u.section && !u.marker {
			d.joinTail(k, b, built, bySent, ref, dates)
		}
		if u.said != saidLine || u.speaker == "" {
			continue
		}
		kind := d.openKind(b.ws)
		if kind == openNone && b.how == ownerNone && len(b.ws) > 0 && has(actionVerbs, b.ws[skipWords(b.ws, 0, itemFiller)].norm) {
			kind = openGroup // "roll back first" / "on it"
		}
		if kind != openNone {
			d.joinTaker(c, b, kind, built, bySent, ref, dates)
		}
	}
}

// joinTail reads the sentence k after an item in the same message: a
// deadline ("needs to be done by the 5th") dates it, and a hand-off
// ("That's on you", "li wei said she'd do it") names its owner.
func (d *document) joinTail(k int, b *builtItem, built []builtItem, bySent map[int]int, ref time.Time, dates duedate.Options) {
	tail := d.sents[k].text
	if b.due == nil && isDeadlineTail(tail) {
		if dd, ok := duedate.Find(tail, ref, dates); ok {
			b.due = &dd
			if j, ok := bySent[k]; ok {
				built[j].drop = true
			}
		}
	}
	if b.how != ownerNamed {
		if owner := d.handoff(k); owner != "" {
			b.owner, b.how = owner, ownerNamed
		}
	}
}

// joinTaker finds the first message after a chat item, from someone else,
// that takes it on, and folds it in: see joinReplies.
func (d *document) joinTaker(c *actionItem, b *builtItem, kind int, built []builtItem, bySent map[int]int, ref time.Time, dates duedate.Options) {
	u := &d.units[c.unit]
	for k := c.unit + 1; k < len(d.units) && k <= c.unit+4; k++ {
		v := &d.units[k]
		if v.speaker == "" || v.said != saidLine || strings.EqualFold(v.speaker, u.speaker) {
			continue
		}
		if b.how == ownerNamed && !sameName(b.owner, v.speaker) {
			continue // asked Karen, Lisa answered
		}
		rs := d.replySentence(k)
		if rs < 0 {
			continue
		}
		j, replyIsItem := bySent[rs]
		if !replyIsItem && b.how == ownerNamed && rs+1 < len(d.sents) && d.sents[rs+1].unit == k {
			// "Kai, can you schedule the failover test?" / "Yes. I'll pick
			// a date with the database team": the yes takes it on, and
			// what follows says how.
			if nj, ok := bySent[rs+1]; ok && fillerOnly(splitWords(d.sents[rs].text)) {
				j, replyIsItem, rs = nj, true, rs+1
			}
		}
		if replyIsItem && !refersTo(built[j].ws, b.ws) && !(b.how == ownerNamed && d.saysYesFirst(k, rs)) {
			continue // the reply took on something else
		}
		if kind == openGroup || b.how != ownerNamed {
			b.owner, b.how = v.speaker, ownerReplied
		}
		if replyIsItem {
			r := &built[j]
			r.drop = true
			if contentCount(r.ws) > contentCount(b.ws) && refersTo(r.ws, b.ws) {
				// "will you let me know when it's fixed?" / "Yes, I'll
				// update this ticket as soon as engineering ships the
				// fix": the reply says more.
				b.setText(r.text)
			}
			if b.due == nil {
				b.due = r.due
			}
		}
		if b.due == nil {
			if dd, ok := duedate.Find(d.sents[rs].text, ref, dates); ok {
				b.due = &dd
			}
		}
		return
	}
}

// saysYesFirst reports whether reply sentence rs of unit k comes after a
// first sentence that only agrees: "Yes. I'll pick a date…".
func (d *document) saysYesFirst(k, rs int) bool {
	return rs > 0 && d.sents[rs-1].unit == k && takesOn(splitWords(d.sents[rs-1].text))
}

// handoff reads a sentence that gives the task before it to someone: "That's
// on you" (the person the message speaks to), "that one's on me" (the
// speaker), "li wei said she'd do it", "Priya offered to do it".
func (d *document) handoff(k int) string {
	t := d.sents[k].toks
	for i := 0; i+1 < len(t); i++ {
		if t[i].norm == "on" && (i == 1 && (t[0].norm == "that's" || t[0].norm == "thats" || t[0].norm == "it's") || i == 2 && t[1].norm == "one's") {
			u := &d.units[d.sents[k].unit]
			switch t[i+1].norm {
			case "you", "u":
				if owner, how := d.addressee(d.sents[k].unit); how == ownerNamed {
					return owner
				}
			case "me", "us":
				if u.speaker != "" {
					return u.speaker
				}
				return u.author()
			}
			return ""
		}
	}
	o := 0 // the name's length: people of the conversation, "li wei"
	for o < len(t) && o < 3 && (o == 0 || !t[o].brk) && (d.isName(t[o]) || d.attendees()[t[o].norm]) {
		o++
	}
	if o == 0 || o+2 >= len(t) {
		return ""
	}
	switch v := t[o].norm; v {
	case "said", "says", "offered", "volunteered", "agreed", "will", "can":
		for _, tk := range t[o+1 : min(len(t), o+5)] {
			if tk.norm == "it" || tk.norm == "that" || tk.norm == "this" {
				return nameFromTokens(d.sents[k].text, t[:o])
			}
		}
	}
	return ""
}

// nameFromTokens writes the name the tokens t spell, as written in text.
func nameFromTokens(text string, t []token) string {
	ws := splitWords(text)
	if len(ws) < len(t) {
		return ""
	}
	return nameText(text, ws, 0, len(t))
}

// addContext gives a short item that points back at something ("I can
// pull it together next week") the sentence before it in the same message,
// which says what "it" is: "The auditors want the fixed asset register by
// 8 May — pull it together next week". Out of its conversation, "Pull it
// together next week" tells a person nothing.
func (d *document) addContext(found []actionItem, built []builtItem, bySent map[int]int) {
	for i := range found {
		c, b := &found[i], &built[i]
		if b.drop || c.clause || c.pos == 0 || d.sents[c.pos-1].unit != c.unit {
			continue // a clause cut from an item has that item before it
		}
		if _, isItem := bySent[c.pos-1]; isItem {
			continue
		}
		pointsBack := func(w word) bool { return has(pronouns, w.norm) && w.norm != "her" && w.norm != "him" }
		if !b.replaced && !slices.ContainsFunc(b.ws, pointsBack) {
			continue // the text is the task's words or fewer
		}
		if ws := b.words(); len(ws) > 8 || !slices.ContainsFunc(ws, pointsBack) {
			continue
		}
		prev := strings.TrimRight(tidyItem(d.sents[c.pos-1].text), ".!:;, ")
		pw := splitWords(prev)
		if len(pw) < 3 || len(pw) > 25 || fillerOnly(pw) || strings.HasSuffix(prev, "?") {
			continue
		}
		b.setText(prev + " — " + lowerFirst(b.text))
		b.context = c.pos // the sentence before c.pos, plus one
	}
}

// lowerFirst lower-cases the first letter of s unless the first word is
// written in capitals or is "I".
func lowerFirst(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	next, _ := utf8.DecodeRuneInString(s[size:])
	if !unicode.IsUpper(r) || unicode.IsUpper(next) || r == 'I' && (next == ' ' || next == '\'' || next == '’') {
		return s
	}
	return string(unicode.ToLower(r)) + s[size:]
}

// afterVocative returns the index after a name that a request is spoken
// to ("Karen could you…", "Sam can you…", "@ops can someone…"), or i.
func (d *document) afterVocative(ws []word, i int) int {
	if n := d.nameLen("", ws, i); n > 0 && i+n < len(ws) {
		w := ws[i+n].norm
		if has(requestModals, w) || has(pleaseWords, w) || (w == "you" && i+n+1 < len(ws) && has(youMust, ws[i+n+1].norm)) {
			return i + n
		}
	}
	return i
}

// youMust follow "you" in a request: "Mum you need to send me the list".
var youMust = wordSet(`need should must have`)

// joinParts puts back together a task line that splitTasks cut at a
// semicolon when the later part names no owner of its own: "Bo — ask the
// mobile team whether push should use the outbox; bring the answer to
// Thursday's sync" is one task for Bo, due Thursday.
func (d *document) joinParts(found []actionItem, built []builtItem) {
	for i := 1; i < len(found); i++ {
		p, c := &found[i-1], &found[i]
		if p.pos != c.pos || p.unit != c.unit || c.clause || built[i-1].drop || built[i].drop || built[i].how == ownerNamed {
			continue
		}
		pb, cb := &built[i-1], &built[i]
		pb.setText(pb.text + "; " + lowerFirst(c.task))
		if pb.due == nil {
			pb.due = cb.due
		}
		cb.drop = true
	}
}

// nameTheAsker writes the asker's name for "me" in a request someone else
// takes on: "can you send me the final version?" → "Send Marisa the final
// version". Out of the chat, "me" is nobody.
func (d *document) nameTheAsker(found []actionItem, built []builtItem) {
	for i := range found {
		b, u := &built[i], &d.units[found[i].unit]
		asker := u.speaker
		if asker == "" {
			asker = u.author()
		}
		if b.drop || asker == "" || b.owner == "" || !strings.Contains(strings.ToLower(b.text), "me") || sameName(b.owner, asker) || d.openKind(b.ws) != openAsk {
			continue
		}
		b.setText(meRE.ReplaceAllString(b.text, "${1}"+strings.ReplaceAll(asker, "$", "$$")))
	}
}

var meRE = regexp.MustCompile(`(^|[^\p{L}'’])[Mm]e\b`)

func isPronoun(w word) bool { return has(pronouns, w.norm) }

// vague reports whether a task says nothing but a verb and a pronoun: "Own
// it", "Loop you in when I have it".
func vague(ws []word) bool {
	pronoun, content := false, 0
	for _, w := range ws {
		switch {
		case has(pronouns, w.norm):
			pronoun = true
		case !has(englishStop, w.norm) && !has(dateWords, w.norm) && hasLetter(w.norm):
			content++
		}
	}
	return pronoun && content < 2
}

// Kinds of open call a chat item can be.
const (
	openNone  = iota
	openAsk   // "can you…", "please…", "could someone…"
	openGroup // "we need to…", "we should…", "someone should…"
)

// openKind reports whether an item asks for someone to take it on.
func (d *document) openKind(ws []word) int {
	for _, i := range clauseStarts(ws) {
		i = d.afterVocative(ws, i)
		w := ws[i].norm
		next := ""
		if i+1 < len(ws) {
			next = ws[i+1].norm
		}
		switch {
		case has(requestModals, w) && (has(youWords, next) || has(someone, next)), has(pleaseWords, w):
			return openAsk
		case (w == "you" || w == "u") && (next == "need" || next == "should" || next == "must"):
			return openAsk
		case (w == "we" || has(someone, w)) && (next == "need" || next == "needs" || next == "should" || next == "must" || next == "have" || next == "has"):
			return openGroup
		}
	}
	return openNone
}

// replySentence returns the sentence of unit v that answers what came
// before: its first, if that takes something on ("sure, tomorrow", "will
// do", "I'll send it tonight"), or the one after a bare "agreed." or
// "nice."; -1 when the message takes nothing on.
func (d *document) replySentence(v int) int {
	first := -1
	for k := range d.sents {
		if d.sents[k].unit == v {
			first = k
			break
		}
	}
	if first < 0 {
		return -1
	}
	for k := first; k < len(d.sents) && k <= first+1 && d.sents[k].unit == v; k++ {
		ws := splitWords(d.sents[k].text)
		if takesOn(ws) {
			return k
		}
		if k == first && !fillerOnly(ws) {
			return -1
		}
	}
	return -1
}

// takesOn reports whether a reply takes a task on: "sure", "yep will do",
// "on it", "I can do that", "I'll take the runbook", "sure, tomorrow".
func takesOn(ws []word) bool {
	yes := false
	i := 0
	for i < len(ws) && ws[i].mention {
		i++ // "@jonas I'll grant you the role"
	}
	for ; i < len(ws); i++ {
		w := ws[i].norm
		if has(yesWords, w) || w == "course" && i > 0 && ws[i-1].norm == "of" || w == "problem" && i > 0 && ws[i-1].norm == "no" {
			yes = true
			continue
		}
		if w == "of" || w == "no" && i+1 < len(ws) && ws[i+1].norm == "problem" {
			continue
		}
		break
	}
	if i == len(ws) {
		return yes
	}
	w := ws[i].norm
	next := ""
	if i+1 < len(ws) {
		next = ws[i+1].norm
	}
	switch {
	case w == "i'll" || w == "ill" || w == "will" || w == "doing" || w == "happy":
		return true
	case (w == "i" || w == "we") && (next == "will" || next == "can" || next == "shall"), w == "we'll":
		return true
	case w == "i'm" && (next == "on" || next == "doing" || next == "going"):
		return true
	case (w == "on" && next == "it") || (w == "can" && next == "do") || (w == "let" && next == "me"):
		return true
	}
	// "sure, tomorrow": a yes and a day.
	return yes && has(dateWords, w)
}

// yesWords take something on when they open a reply.
var yesWords = wordSet(`sure yes yep yeah yup ok okay absolutely definitely np certainly`)

// fillerOnly reports whether a sentence only agrees or reacts: "agreed.",
// "nice.", "good point".
func fillerOnly(ws []word) bool {
	for _, w := range ws {
		if !has(itemFiller, w.norm) && !has(reactions, w.norm) {
			return false
		}
	}
	return true
}

var reactions = wordSet(`agreed noted nice good point makes sense fair true brilliant amazing awesome thanks thank you`)

// refersTo reports whether a reply's task is the request's task: it points
// back at it ("send it", "do that") or shares a content word with it.
func refersTo(reply, request []word) bool {
	words := map[string]bool{}
	for _, w := range request {
		if w.norm != "" && !has(englishStop, w.norm) && !has(keywordSkip, w.norm) {
			words[stem(w.norm)] = true
		}
	}
	for _, w := range reply {
		if has(pronouns, w.norm) || words[stem(w.norm)] && !has(englishStop, w.norm) && !has(keywordSkip, w.norm) {
			return true
		}
	}
	return false
}

// pronouns point back at a thing already named.
var pronouns = wordSet(`it them that this those these her him`)

// isDeadlineTail reports whether a sentence only adds a deadline to the one
// before: "needs to be done by the 5th", "ideally by Friday", "by EOD pls".
func isDeadlineTail(s string) bool {
	first, n := "", 0
	for f := range strings.FieldsSeq(s) {
		if n == 0 {
			first = strings.ToLower(strings.TrimLeft(f, "-*•(\"'"))
		}
		if n++; n > 10 {
			return false
		}
	}
	switch first {
	case "needs", "need", "should", "must", "ideally", "by", "before", "it", "that", "this", "latest", "asap", "deadline", "due":
		return true
	}
	return false
}

// sameName reports whether two names are one person's: equal but for case
// and "@", or one the other's first name.
func sameName(a, b string) bool {
	ka, kb := recall.ItemKey(a), recall.ItemKey(b)
	return ka == kb || strings.HasPrefix(ka, kb+" ") || strings.HasPrefix(kb, ka+" ")
}
