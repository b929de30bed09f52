package extract

import (
	"cmp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxActionItems and MaxActionItemRunes bound what Analyze returns.
	MaxActionItems     = 10
	MaxActionItemRunes = 300
)

// Strengths of an action item. When a conversation has more candidates than
// MaxActionItems, the strongest are kept.
const (
	weak     = 1 // a suggestion for the group: "we should…", "let's…"
	owned    = 2 // a commitment or request with someone on the hook
	explicit = 3 // written as a task: checkbox, "TODO:", an "Action items" list
)

type actionItem struct {
	text     string // as ActionItems lists it: "Speaker: Task"
	key      string
	strength int
	pos      int
	// What the structured item is made from.
	task   string // the tidied task, without the speaker
	source string // the words its due date is read from
	unit   int    // index into document.units
	built  int    // index of its builtItem, in structuredItems
	clause bool   // cut from the item before it by splitClauses
}

// findActionItems finds the sentences and lines that commit someone to do
// something, cleans them and drops duplicates, in document order. An item
// spoken by someone keeps the speaker in its text: "Alice: I'll send the
// deck".
func findActionItems(d *document) []actionItem {
	f := itemFinder{d: d, seen: map[string]bool{}}
	lastUnit := -1 // the unit last taken whole
	for si := 0; si < len(d.sents); si++ {
		s := &d.sents[si]
		u := &d.units[s.unit]
		if s.first && (u.checked || u.heading || u.quoted || isBot(u.speaker) || d.noAction(si)) {
			lastUnit = s.unit // none of its sentences is a task
		}
		if lastUnit == s.unit {
			continue
		}
		switch {
		case u.open || u.marker || u.section:
			// The whole line is the task; take it once, at its first sentence.
			if s.first {
				f.addTaskLine(si)
			}
		case assigned(s.toks):
			// "BILL-412 CSV export — assignee: Nikos", "#4521 … Assigned
			// to @tobias": a tracker's line names its task and owner. It is
			// taken once, whole.
			f.add(s.unit, u.text, u.text, explicit, si)
			lastUnit = s.unit
		case u.bullet && !u.timed && !u.aside && d.ownerInBrackets(s.text):
			// "Toolbox talk on working at height tomorrow 7:30 (Derek)"
			// (but not a timeline's "14:20 Hyun-woo escalates (Bianca)").
			f.add(s.unit, s.text, s.text, explicit, si)
		default:
			f.addSentence(si)
		}
	}
	return f.items
}

// isBot reports whether a speaker is a bot ("bot", "standup-bot",
// "StandupBot"): what it asks of people is a prompt, not a task anyone took.
func isBot(speaker string) bool {
	if len(speaker) < 3 || !strings.EqualFold(speaker[len(speaker)-3:], "bot") {
		return false
	}
	lower := strings.ToLower(speaker)
	if lower == "bot" || strings.HasSuffix(lower, " bot") || strings.HasSuffix(lower, "-bot") || strings.HasSuffix(lower, "_bot") {
		return true
	}
	// "StandupBot", but not "Talbot".
	return len(speaker) > 3 && strings.HasSuffix(speaker, "Bot") && unicode.IsLower(rune(speaker[len(speaker)-4]))
}

// noAction reports whether the line whose first sentence is si says there
// is nothing to do: "Billing batch runs on 2 Jan; nothing to do unless it
// fails", "no action needed".
func (d *document) noAction(si int) bool {
	for k := si; k < len(d.sents) && d.sents[k].unit == d.sents[si].unit; k++ {
		t := d.sents[k].toks
		for i := 0; i+2 < len(t); i++ {
			switch {
			case t[i].norm == "nothing" && t[i+1].norm == "to" && t[i+2].norm == "do",
				t[i].norm == "no" && t[i+1].norm == "action" && (t[i+2].norm == "needed" || t[i+2].norm == "required" || t[i+2].norm == "is"):
				return true
			}
		}
	}
	return false
}

// offerAccepted reports whether sentence si offers to do something as a
// question ("should I also add the churn slide?", "want me to book it?")
// that the next message, from someone else, accepts ("yes please").
func (d *document) offerAccepted(si int) bool {
	s := &d.sents[si]
	u := &d.units[s.unit]
	if u.said != saidLine || !endsWithQuestion(s.text) || offerOpener(splitWords(s.text), 0) == 0 {
		return false
	}
	for k := si + 1; k < len(d.sents); k++ {
		if d.sents[k].unit == s.unit {
			continue
		}
		v := &d.units[d.sents[k].unit]
		if v.said != saidLine || strings.EqualFold(v.speaker, u.speaker) || !d.sents[k].first {
			return false
		}
		ws := splitWords(d.sents[k].text)
		return len(ws) > 0 && (has(yesWords, ws[0].norm) || has(pleaseWords, ws[0].norm))
	}
	return false
}

// offerOpener returns the index after an offer put as a question at
// ws[i]: "should I", "shall I", "shall we", "want me to", "do you want me
// to"; 0 when there is none.
func offerOpener(ws []word, i int) int {
	next := func(k int) string {
		if i+k < len(ws) {
			return ws[i+k].norm
		}
		return ""
	}
	switch w := next(0); {
	case (w == "should" || w == "shall") && (next(1) == "i" || next(1) == "we"):
		return i + 2
	case w == "want" && next(1) == "me" && next(2) == "to":
		return i + 3
	case w == "do" && next(1) == "you" && next(2) == "want" && next(3) == "me" && next(4) == "to":
		return i + 5
	}
	return 0
}

// namesPerson reports whether a sentence names a person of the
// conversation or speaks in the first person.
func (d *document) namesPerson(t []token) bool {
	for _, tk := range t {
		if d.isName(tk) || has(firstPerson, tk.norm) {
			return true
		}
	}
	return false
}

// itemFinder collects the items findActionItems finds.
type itemFinder struct {
	d     *document
	items []actionItem
	seen  map[string]bool
}

// add keeps an item unless it repeats one already kept. source is the text
// its due date is read from.
func (f *itemFinder) add(ui int, text, source string, strength, pos int) {
	if due := f.d.units[ui].due(); due != "" {
		source = due + " | " + source // a table's due-date cell
	}
	text = tidyItem(text)
	key := itemKey(text)
	if key == "" || f.seen[key] {
		return
	}
	f.seen[key] = true
	task := text
	if speaker := f.d.units[ui].speaker; speaker != "" {
		text = speaker + ": " + text
	}
	f.items = append(f.items, actionItem{text: truncateRunes(text, MaxActionItemRunes), key: key, strength: strength, pos: pos,
		task: task, source: source, unit: ui})
}

// addTaskLine takes a line written as a task (a checkbox, "TODO:", a line
// of an "Action items" list) whole, split at semicolons, starting at its
// first sentence si.
func (f *itemFinder) addTaskLine(si int) {
	d := f.d
	s := &d.sents[si]
	u := &d.units[s.unit]
	strength := explicit
	if hasDueDate(s.toks) {
		strength++
	}
	// A line of several sentences has its date in the one that gives the
	// task: "The cert expires on 3 Jan. Sione please renew it tomorrow."
	source := ""
	for k := si; k < len(d.sents) && d.sents[k].unit == s.unit; k++ {
		if k > si && actionStrength(d, &d.sents[k], u) > 0 {
			source = d.sents[k].text
			break
		}
	}
	for _, part := range splitTasks(u.text) {
		src := part
		if source != "" && actionStrength(d, s, u) == 0 {
			src = source
		}
		f.add(s.unit, part, src, strength, si)
	}
}

// addSentence takes sentence si if it reads as an action item.
func (f *itemFinder) addSentence(si int) {
	s := &f.d.sents[si]
	u := &f.d.units[s.unit]
	strength := actionStrength(f.d, s, u)
	if strength == 0 && f.d.offerAccepted(si) {
		strength = owned // "should I also add the churn slide?" / "yes please"
	}
	if strength == 0 || (strength == weak && (u.decision || u.aside)) {
		// "We will render PDFs in a worker" under Decisions is a decision;
		// "Publish to Kafka" under the options weighed is one of them.
		return
	}
	if u.aside && !f.d.namesPerson(s.toks) {
		// Under Risks, "Alerts will add load on the query service" is a
		// forecast; only a person named or speaking takes a task there.
		return
	}
	text := s.text
	if s.first && u.labelEnd > 0 && u.labelEnd < len(text) {
		text = text[u.labelEnd:] // "Reminder: I'll send…" → "I'll send…"
	}
	f.add(s.unit, text, text, strength, si)
}

// strongest returns the n strongest items in document order: when a
// conversation has more candidates than a list holds, explicit tasks win
// over commitments, and those over suggestions.
func strongest(items []actionItem, n int) []actionItem {
	if len(items) <= n {
		return items
	}
	out := slices.Clone(items)
	slices.SortStableFunc(out, func(a, b actionItem) int { return cmp.Compare(b.strength, a.strength) })
	out = out[:n]
	slices.SortStableFunc(out, func(a, b actionItem) int { return cmp.Compare(a.pos, b.pos) })
	return out
}

// actionItems lists the strongest MaxActionItems items as plain strings,
// the speaker in front: the ActionItems existing clients read.
func actionItems(items []actionItem) []string {
	items = strongest(items, MaxActionItems)
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.text
	}
	return out
}

// splitTasks splits "Alice to send the deck; Bob to book a room" into its
// tasks.
func splitTasks(s string) []string {
	parts := strings.Split(s, "; ")
	if len(parts) < 2 {
		return []string{s}
	}
	for _, p := range parts {
		if len(strings.Fields(p)) < 2 {
			return []string{s}
		}
	}
	return parts
}

// tidyItem strips filler, a leading "please"-less "TODO", markdown and the
// final period, and capitalises the first letter.
func tidyItem(s string) string {
	s = trimFiller(strings.TrimSpace(s))
	if _, rest, ok := cutTodo(s); ok {
		s = rest
	}
	s = strings.TrimSpace(strings.TrimRight(s, " ,;:"))
	if strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "..") {
		s = s[:len(s)-1]
	}
	return capitalize(s)
}

// itemKey is what two items must share to be duplicates: their letters and
// digits, lower-cased.
func itemKey(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(unicode.ToLower(r))
			space = false
		} else {
			space = true
		}
	}
	return b.String()
}

// Word classes the rules below use.
var (
	questionStarts = wordSet(`do does did is are was were should shall would will have has had why what how when where who which whose isn't aren't didn't doesn't don't wasn't weren't won't wouldn't shouldn't`)
	adverbs        = wordSet(`also just then probably definitely quickly first still actually really now soon today tomorrow asap finally both all go gladly happily`)
	notCommitments = wordSet(`miss say admit guess bet assume hope wait not never be see know like love`)
	notRequests    = wordSet(`see hear believe imagine like think feel mind remember`)
	negations      = wordSet(`don't doesn't didn't no not won't never isn't aren't wasn't weren't dont doesnt didnt wont`)
	blockers       = wordSet(`is are was were went looks look seems seemed has have had will would can could should may might must passed failed done ok okay good fine results of from 's`)
	modals         = wordSet(`will shall should must`)
)

// ownerInBrackets reports whether a line ends by naming a person of the
// conversation in brackets: "Toolbox talk tomorrow 7:30 (Derek)".
func (d *document) ownerInBrackets(s string) bool {
	s = strings.TrimRight(s, " .")
	if !strings.HasSuffix(s, ")") {
		return false
	}
	i := strings.LastIndexByte(s, '(')
	if i < 0 {
		return false
	}
	name := strings.TrimPrefix(strings.TrimSpace(s[i+1:len(s)-1]), "@")
	words := strings.Fields(strings.ToLower(name))
	if len(words) == 0 || len(words) > 2 {
		return false
	}
	for _, w := range words {
		if !d.names[w] && !d.attendees()[w] {
			return false
		}
	}
	return true
}

// assigned reports whether a sentence assigns a task: "assigned to @bob",
// "assignee: Nikos".
func assigned(t []token) bool {
	for i, tk := range t {
		switch tk.norm {
		case "assignee":
			return i+1 < len(t) && t[i+1].letter
		case "assigned":
			return i+2 < len(t) && t[i+1].norm == "to" && t[i+2].letter
		}
	}
	return false
}

// stopVerbs after "can you" are auxiliaries, not requests ("can you not").
var stopVerbs = wordSet(`not be have`)

// participles are irregular past participles for "needs to be …".
var participles = wordSet(`done made sent written set put run built shut cut read kept left paid sold told shown known seen given taken brought bought thought found held`)

// pleaseIsPolite reports whether "please" at t[v-1] only softens a formula
// ("please let me know", "please find attached", "please note").
func pleaseIsPolite(t []token, v int) bool {
	switch t[v].norm {
	case "let":
		return v+2 < len(t) && t[v+2].norm == "know"
	case "feel", "find", "note", "see", "disregard", "ignore", "excuse", "advise", "don't", "do":
		return true
	}
	return false
}

// ownerLength returns how many tokens at the start of t name an owner
// ("Alice", "@bob", "Alice and Bob", "QA"), or 0.
func ownerLength(d *document, t []token, start int) int {
	isOwner := func(i int) bool {
		if i >= len(t) || !t[i].letter {
			return false
		}
		tk := t[i]
		if d.isName(tk) {
			return true
		}
		return tk.cap && !tk.stop && !has(actionVerbs, tk.norm) && !has(actionVerbs, tk.stem)
	}
	if !isOwner(start) {
		return 0
	}
	n := 1
	for {
		j := start + n
		switch {
		case j+1 < len(t) && t[j].norm == "and" && !t[j].brk && isOwner(j+1) && !t[j+1].brk:
			n += 2
			continue
		case j < len(t) && t[j].brk && t[j].cap && isOwner(j):
			// "Alice, Bob and Carol", "Alice & Bob"
			n++
			continue
		case j < len(t) && n < 4 && !t[j].brk && t[j].cap && t[j-1].cap && isOwner(j):
			// "Logistics Ops", "Data Protection Officer", "Bob Smith"
			n++
			continue
		}
		break
	}
	if start+n < len(t) && t[start+n].brk {
		return 0
	}
	return n
}

// hasObject reports whether the verb at v is followed by something it acts
// on ("will announce the launch"), which tells a task from a forecast
// ("latency will improve once …").
func hasObject(t []token, v int) bool {
	if v < 0 || v+1 >= len(t) || t[v+1].brk {
		return false
	}
	n := t[v+1]
	switch {
	case has(dueWords, n.norm) && v+3 < len(t) && (has(dateWords, t[v+2].norm) || t[v+2].norm == "the") && !t[v+3].brk:
		// "will confirm by tomorrow whether …"
		n = t[v+3]
	case (n.norm == "today" || n.norm == "tomorrow" || n.norm == "tonight") && v+2 < len(t) && !t[v+2].brk:
		n = t[v+2]
	}
	if has(objectWords, n.norm) {
		return true
	}
	return !n.stop && !strings.HasSuffix(n.norm, "ly")
}

// dueWords introduce a date that may stand between a verb and its object.
var dueWords = wordSet(`by before on until`)

// objectWords open the object of a verb.
var objectWords = wordSet(`the a an our your their his her its my this that these those it them him me us up out back over with on in to all any some each both every new whether`)

// imperative reports whether the action verb at t[i] opens a command
// rather than a noun phrase: "Test the flow" but not "Test coverage is
// 80%" or "Review of Q3".
func imperative(t []token, i int) bool {
	if i+1 >= len(t) {
		return true
	}
	if t[i+1].brk || has(blockers, t[i+1].norm) || (t[i].norm == "update" && t[i+1].norm == "on") {
		return false
	}
	for j := i + 1; j < len(t) && j <= i+3; j++ {
		if has(copulas, t[j].norm) {
			return false
		}
	}
	return true
}

// copulas soon after a leading verb show it was a noun: "Test coverage is".
var copulas = wordSet(`is are was were has have had looks seems went 's`)

// isName reports whether t is known to name a person.
func (d *document) isName(t token) bool {
	return t.mention || d.names[t.norm] || d.proper[t.norm]
}

// hasDueDate reports whether a sentence sets a deadline: "by Friday", "by
// end of day", "before the 15th", "due 3/14", "until Q3".
func hasDueDate(t []token) bool {
	for i, tk := range t {
		switch tk.norm {
		case "by", "before", "until", "till", "due", "deadline":
		default:
			continue
		}
		for j := i + 1; j < len(t) && j <= i+3; j++ {
			n := t[j].norm
			if n == "the" || n == "of" || n == "is" {
				continue
			}
			if has(dateWords, n) || strings.ContainsAny(n, "0123456789") {
				return true
			}
			break
		}
	}
	return false
}

func endsWithQuestion(s string) bool {
	s = strings.TrimRightFunc(s, func(r rune) bool { return unicode.IsSpace(r) || isCloser(r) })
	r, _ := utf8.DecodeLastRuneInString(s)
	return r == '?' || r == '？'
}
