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
	var items []actionItem
	seen := map[string]bool{}
	add := func(ui int, text, source string, strength, pos int) {
		if due := d.units[ui].due(); due != "" {
			source = due + " | " + source // a table's due-date cell
		}
		text = tidyItem(text)
		key := itemKey(text)
		if key == "" || seen[key] {
			return
		}
		seen[key] = true
		task := text
		if speaker := d.units[ui].speaker; speaker != "" {
			text = speaker + ": " + text
		}
		items = append(items, actionItem{text: truncateRunes(text, MaxActionItemRunes), key: key, strength: strength, pos: pos,
			task: task, source: source, unit: ui})
	}
	lastUnit := -1 // the unit last taken whole
	for si := 0; si < len(d.sents); si++ {
		s := &d.sents[si]
		u := &d.units[s.unit]
		if u.checked || u.heading || lastUnit == s.unit {
			continue
		}
		if u.open || u.marker || u.section {
			// The whole line is the task; take it once, at its first sentence.
			if !s.first {
				continue
			}
			strength := explicit
			if hasDueDate(s.toks) {
				strength++
			}
			// A line of several sentences has its date in the one that
			// gives the task: "The cert expires on 3 Jan. Sione please
			// renew it tomorrow."
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
				add(s.unit, part, src, strength, si)
			}
			continue
		}
		if assigned(s.toks) {
			// "BILL-412 CSV export — assignee: Nikos", "#4521 … Assigned
			// to @tobias": a tracker's line names its task and owner. It is
			// taken once, whole.
			if lastUnit != s.unit {
				add(s.unit, u.text, u.text, explicit, si)
				lastUnit = s.unit
			}
			continue
		}
		if u.bullet && !u.timed && d.ownerInBrackets(s.text) {
			// "Toolbox talk on working at height tomorrow 7:30 (Derek)"
			// (but not a timeline's "14:20 Hyun-woo escalates (Bianca)").
			add(s.unit, s.text, s.text, explicit, si)
			continue
		}
		strength := actionStrength(d, s, u)
		if strength == 0 || (strength == weak && u.decision) {
			// "We will render PDFs in a worker" under Decisions is a decision.
			continue
		}
		text := s.text
		if s.first && u.labelEnd > 0 && u.labelEnd < len(text) {
			text = text[u.labelEnd:] // "Reminder: I'll send…" → "I'll send…"
		}
		add(s.unit, text, text, strength, si)
	}
	return items
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

// actionStrength scores a sentence as an action item; 0 means it is not one.
// The rules read the sentence's words, not its grammar, and err on the
// side of commitments made in the first person, requests, named owners and
// imperatives in lists or chat.
func actionStrength(d *document, s *sentence, u *unit) int {
	t := s.toks
	if len(t) == 0 {
		return 0
	}
	w := func(i int) string {
		if i < 0 || i >= len(t) {
			return ""
		}
		return t[i].norm
	}
	// verbAt skips adverbs ("I'll also send", "let's quickly check") and
	// returns the verb's index, or -1 when punctuation intervenes.
	verbAt := func(i int) int {
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
	committed := func(i int) bool {
		v := verbAt(i)
		if v < 0 || !t[v].letter {
			return false
		}
		if t[v].norm == "be" {
			n := w(v + 1)
			return strings.HasSuffix(n, "ing") && len(n) > 4 && n != "being" && !t[v+1].brk
		}
		return !has(notCommitments, t[v].norm)
	}
	actionVerb := func(i int) bool {
		v := verbAt(i)
		return v >= 0 && (has(actionVerbs, t[v].norm) || has(actionVerbs, t[v].stem))
	}
	// passive: "need to be updated", "must be fixed".
	passiveOK := func(i int) bool {
		v := verbAt(i)
		if v < 0 {
			return false
		}
		if t[v].norm != "be" {
			return committed(i)
		}
		n := w(v + 1)
		return v+1 < len(t) && !t[v+1].brk && (strings.HasSuffix(n, "ed") || strings.HasSuffix(n, "en") || has(participles, n))
	}

	start := 0
	for start < len(t)-1 && (has(fillerWords, t[start].norm) || (has(interjections, t[start].norm) && t[start+1].brk)) {
		start++
	}
	if has(questionStarts, w(start)) && endsWithQuestion(s.text) && !(w(start+1) == "you" && (w(start) == "will" || w(start) == "would")) {
		return 0
	}

	best := 0
	set := func(v int) { best = max(best, v) }
	if w(start) == "will" && w(start+1) != "you" && committed(start+1) && verbAt(start+1)+1 < len(t) {
		// Notes drop the subject: "Will write a failing test today."
		set(owned)
	}
	for i := start; i < len(t); i++ {
		a, b, c := w(i), w(i+1), w(i+2)
		switch a {
		case "todo", "fixme", "to-do":
			set(explicit)
		case "i'll":
			if committed(i + 1) {
				set(owned)
			}
		case "he'll", "she'll":
			// "tomas … he'll email the facility manager"
			if actionVerb(i + 1) {
				set(owned)
			}
		case "i":
			switch {
			case b == "will" || b == "shall" || b == "must":
				if committed(i + 2) {
					set(owned)
				}
			case b == "can" || b == "should":
				if actionVerb(i+2) || (c == "do" && hasObject(t, i+2)) {
					set(owned)
				}
			case (b == "need" || b == "have" || b == "got") && c == "to":
				if committed(i + 3) {
					set(owned)
				}
			case b == "am" && c == "going" && w(i+3) == "to":
				if committed(i + 4) {
					set(owned)
				}
			}
		case "i'm":
			if b == "going" && c == "to" && committed(i+3) {
				set(owned)
			}
		case "i've":
			if b == "got" && c == "to" && committed(i+3) {
				set(owned)
			}
		case "let":
			if b == "me" && actionVerb(i+2) && c != "know" {
				set(owned)
			}
			if b == "us" && committed(i+2) && c != "see" && c != "hope" {
				set(weak)
			}
		case "let's", "lets":
			if (a == "let's" || i == start) && committed(i+1) && b != "see" && b != "hope" && b != "say" {
				set(weak)
			}
		case "we'll":
			if committed(i + 1) {
				set(weak)
			}
		case "we":
			switch {
			case has(modals, b):
				if passiveOK(i + 2) {
					set(weak)
				}
			case (b == "need" || b == "have") && c == "to", b == "ought" && c == "to":
				if passiveOK(i + 3) {
					set(weak)
				}
			case b == "are" && c == "going" && w(i+3) == "to":
				if committed(i + 4) {
					set(weak)
				}
			}
		case "we're":
			if b == "going" && c == "to" && committed(i+3) {
				set(weak)
			}
		case "can", "could", "would", "will":
			if b == "you" || b == "u" || b == "someone" || b == "somebody" || b == "anyone" || b == "y'all" {
				v := i + 2
				if c == "please" {
					v++
				}
				if vi := verbAt(v); vi >= 0 && t[vi].letter && !has(notRequests, t[vi].norm) && !has(stopVerbs, t[vi].norm) {
					set(owned)
				}
			}
			if (a == "can" || a == "could") && b == "we" && actionVerb(i+2) {
				set(weak)
			}
		case "please", "pls", "plz":
			if v := verbAt(i + 1); v >= 0 && !pleaseIsPolite(t, v) {
				set(owned)
			}
		case "you":
			if (b == "need" || b == "have") && c == "to" && passiveOK(i+3) {
				set(owned)
			}
			if w(i-1) == "if" && (b == "could" || b == "can" || b == "would") && actionVerb(i+2) {
				// "we would be grateful if you could return the signed copy"
				set(owned)
			}
			if (b == "should" || b == "must") && actionVerb(i+2) {
				set(weak)
			}
		case "someone", "somebody", "anyone":
			// "someone needs to update the runbook", "someone should talk to
			// procurement": a task for the group.
			if (b == "should" || b == "must") && passiveOK(i+2) || (b == "needs" || b == "has") && c == "to" && passiveOK(i+3) {
				set(weak)
			}
		case "need", "needs":
			if b == "to" && !has(negations, w(i-1)) && passiveOK(i+2) {
				set(weak)
			}
		case "make", "remember", "forget":
			if (a == "make" && b == "sure") || (a == "remember" && b == "to") || (a == "forget" && b == "to" && has(negations, w(i-1))) {
				set(weak)
			}
		}
		if t[i].mention && (actionVerb(i+1) || (b == "to" && actionVerb(i+2)) || b == "please") {
			set(owned)
		}
	}
	if (w(start) == "our" || w(start) == "the") && start+1 < len(t) && t[start+1].cap && ownerLength(d, t, start+1) > 0 {
		start++ // "Our Data Protection Officer will send …"
	}
	if o := ownerLength(d, t, start); o > 0 {
		name := d.isName(t[start])
		a, b, c := w(start+o), w(start+o+1), w(start+o+2)
		switch {
		case a == "will" || a == "shall" || a == "should" || a == "can":
			if (name && committed(start+o+1)) || (actionVerb(start+o+1) && hasObject(t, verbAt(start+o+1))) {
				set(owned)
			}
		case (a == "is" || a == "'s") && b == "going" && c == "to":
			if committed(start+o+3) && (name || hasObject(t, verbAt(start+o+3))) {
				set(owned)
			}
		case (a == "needs" || a == "need" || a == "has" || a == "have") && b == "to":
			if passiveOK(start + o + 2) {
				set(owned)
			}
		case a == "to":
			if actionVerb(start+o+1) && (name || !has(keywordSkip, t[start].norm)) {
				set(owned)
			}
		case a == "owns" || a == "owning":
			set(owned)
		}
	}
	if best == 0 {
		for i := start + 1; i < len(t)-2; i++ {
			if !t[i].brk && w(i-1) != "asked" {
				continue
			}
			// "… still not issued — Aoife to issue rev C", "the Chair asked
			// S. Brennan to draft a notice".
			if o := ownerLength(d, t, i); o > 0 && w(i+o) == "to" && actionVerb(i+o+1) {
				set(owned)
				break
			}
		}
	}
	if best == 0 {
		// An imperative ("Update the runbook") is a task in a list or a chat,
		// or anywhere it has a due date.
		i := start
		if w(i) == "please" {
			i++
		}
		if i < len(t) && has(actionVerbs, t[i].norm) && imperative(t, i) && (u.bullet || u.speaker != "" || hasDueDate(t)) && !endsWithQuestion(s.text) {
			set(weak)
		}
	}
	if best > 0 && best < explicit && hasDueDate(t) {
		best++
	}
	return best
}

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
