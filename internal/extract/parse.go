package extract

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// unit is one logical line of a conversation: a chat message, a bullet, a
// heading or a paragraph, with the markup that frames it parsed off.
type unit struct {
	text    string // the words, without timestamp, bullet, checkbox or speaker
	speaker string // "Alice" for "Alice: …"; empty when none
	// said tells how the speaker was found: saidLine for "Alice: …" (and
	// the lines that continue it), saidHeader for lines under "Marco:" on
	// a line of its own, saidTag for the owner in "TODO(alice):" or
	// "Action (Bob):". The owner of an imperative depends on it: a chat
	// line's imperative is a request to others, a header's is the
	// person's own list.
	said     saidKind
	labelEnd int // text[:labelEnd] is a meta label such as "Decision:"; not keyword material
	bullet   bool
	open     bool // an unchecked task-list box: "- [ ] …"
	checked  bool // a checked one: "- [x] …"
	heading  bool
	marker   bool // had a task label ("TODO:", "Action item:") that was removed
	section  bool // sits under an "Action items" / "Next steps" heading
	decision bool // sits under a "Decisions" heading
	// aside is set on a line of a section that records rather than
	// assigns: a timeline, risks, options considered, background.
	aside bool
	title bool // names the whole conversation: a leading "# Heading" or a "Subject:" line
	meta  bool // says when, where or who, not what: "Date:", "Attendees:"
	// timed is set when the line opened with a clock time: a chat message
	// or a timeline entry.
	timed bool
	// quoted is set on earlier mail quoted under a reply ("> …", or
	// everything after "On … wrote:" or "-----Original Message-----"):
	// what it asked for, the newer message has answered or superseded.
	quoted bool
	// info holds what few units have: an email's author and addressee, a
	// table row's due date. Units in one email share it; nil for most.
	info *unitInfo
}

// unitInfo is what a unit knows about its email or table.
type unitInfo struct {
	// author is who wrote the unit when the conversation says so without
	// a speaker prefix: the name on the last "From:" line of an email.
	author string
	// to is whom the unit speaks to: the name in the last greeting ("Hi
	// Raj,", "Dear Mr. Halvorsen,").
	to string
	// due is a table row's due-date cell, where its date is written.
	due string
}

// author, to and due read u.info.
func (u *unit) author() string {
	if u.info == nil {
		return ""
	}
	return u.info.author
}

func (u *unit) to() string {
	if u.info == nil {
		return ""
	}
	return u.info.to
}

func (u *unit) due() string {
	if u.info == nil {
		return ""
	}
	return u.info.due
}

// saidKind is how a unit's speaker was found.
type saidKind uint8

const (
	saidNone saidKind = iota
	saidLine
	saidHeader
	saidTag
)

// rawLine is a line after the first parsing pass; the speaker candidate is
// only accepted once the whole document has been seen.
type rawLine struct {
	text      string
	cand      string // speaker candidate
	candNote  string // what followed it in parentheses: "Agent (Luis):", "TODO(alice):"
	candRest  string // text after the candidate's colon
	bullet    bool
	box       byte // 0, ' ' or 'x'
	heading   bool
	h1        bool // a top-level "# Heading"
	timed     bool // opened with a timestamp, as chat exports do
	quote     bool // opened with ">", as quoted mail does
	indented  bool
	blank     bool
	prevBlank bool
}

var (
	// timeRE matches a clock time or date-time at the start of a line, in
	// the shapes chat exports use: "10:02", "10:02:33 AM", "2024-03-04 10:02",
	// "2024-03-04T10:02:33Z", optionally bracketed and followed by a dash.
	timeRE = regexp.MustCompile(`^[\[(]?(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}[T ,]*)?\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:\s*[AaPp]\.?[Mm]\.?)?(?:Z|[+-]\d{2}:?\d{2})?[\])]?(?:\s*[-–—|>]+)?(?:\s+|$)`)
	// speakerRE matches "Name:", "**Name:**", "<name>", "Name (role):" and
	// "Name [10:02]:" at the start of a line.
	speakerRE = regexp.MustCompile(`^(?:\*\*|__)?<?([\p{L}][\p{L}\p{N}._'’ -]{0,38}?)>?(?:\s*[(\[]([^)\]]{0,40})[)\]])?(?:\*\*|__)?\s*:(?:\*\*|__)?(?:\s+|$)`)
	// exportRE matches the date and time a phone chat export writes in
	// front of each message: "12/04/2026, 18:02 - ", "4/12/26, 6:02 PM - ".
	exportRE = regexp.MustCompile(`^\d{1,2}[/.]\d{1,2}[/.]\d{2,4},?\s+\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AaPp]\.?[Mm]\.?)?\s+[-–]\s+`)
	ircRE    = regexp.MustCompile(`^<([\p{L}][\p{L}\p{N}._'’ -]{0,38})>\s+`)
	bulletRE = regexp.MustCompile(`^(?:[-*+–—]\s+|[•·‣◦▪]\s*|\d{1,3}[.)]\s+|[a-zA-Z][.)]\s+)`)
	boxRE    = regexp.MustCompile(`^\[([ xX✓✔-]?)\]\s*`)
	linkRE   = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// parse turns content into units. It strips what frames the words
// (timestamps, bullets, checkboxes, quote marks, markdown emphasis) and
// records what that framing means (a speaker, a task, a heading).
func parse(content string) []unit {
	raws, speakers := scanLines(content)
	p := unitParser{raws: raws, speakers: speakers, prevRaw: rawLine{blank: true}}
	p.unquoted = slices.ContainsFunc(raws, func(r rawLine) bool { return !r.blank && !r.quote })
	for ri, r := range raws {
		p.line(ri, r)
		p.prevRaw = r
	}
	signOff(p.units)
	return p.units
}

// closings end a letter before its writer's name: "Best,", "Kind
// regards,", "Thanks!".
var closings = map[string]bool{"best": true, "best wishes": true, "all the best": true, "kind regards": true, "regards": true, "warm regards": true,
	"best regards": true, "many thanks": true, "thanks": true, "thank you": true, "cheers": true, "yours sincerely": true, "sincerely": true,
	"yours": true, "yours truly": true, "br": true, "thx": true, "ta": true}

// signOff reads who wrote a letter from its sign-off ("Best,\nOwen") and
// makes them the author of the lines above it that name none, so that
// "I'll place the order" in it is Owen's.
func signOff(units []unit) {
	for i := 1; i < len(units); i++ {
		u, prev := &units[i], &units[i-1]
		if u.speaker != "" || u.quoted || prev.speaker != "" || prev.quoted || !closings[strings.ToLower(strings.TrimRight(prev.text, ",!. "))] {
			continue
		}
		name := strings.TrimSpace(u.text)
		if !personLike(name) || !startsUpper(name) || len(strings.Fields(name)) > 3 {
			continue
		}
		bare := &unitInfo{author: name}
		signed := map[*unitInfo]*unitInfo{} // the units' shared infos, with the author
		for k := i - 2; k >= 0 && !units[k].quoted && units[k].speaker == ""; k-- {
			switch v := &units[k]; {
			case v.info == nil:
				v.info = bare
			case v.info.author == "":
				if signed[v.info] == nil {
					c := *v.info
					c.author = name
					signed[v.info] = &c
				}
				v.info = signed[v.info]
			}
		}
		return
	}
}

// scanLines is parse's first pass: it parses each line on its own and,
// having seen them all, decides which "Name:" prefixes are speakers.
func scanLines(content string) ([]rawLine, map[string]bool) {
	lines := strings.Split(content, "\n")
	raws := make([]rawLine, 0, len(lines))
	c := candidates{counts: map[string]int{}, shapes: map[string]string{}, headers: map[string]bool{}, listed: map[string]bool{}}
	prevBlank := true
	nonBlank, prefixed := 0, 0
	for _, l := range lines {
		r := parseLine(l)
		r.prevBlank = prevBlank
		prevBlank = r.blank
		if !r.blank {
			nonBlank++
		}
		if r.cand != "" {
			prefixed++
			c.note(r)
		}
		raws = append(raws, r)
	}
	chat := nonBlank >= 2 && prefixed*2 >= nonBlank
	speakers := acceptSpeakers(c.counts, c.shapes, c.headers, chat, content)
	for name := range c.counts {
		if c.listed[name] && personLike(c.shapes[name]) {
			speakers[name] = true
		}
	}
	return raws, speakers
}

// candidates gathers what scanLines learns about "Name:" prefixes: how
// often each opens a line (counts, keyed by the lower-case name), how it
// was first written (shapes), whether it was seen alone on its line or
// after a timestamp (headers), and the names an attendee line lists.
type candidates struct {
	counts  map[string]int
	shapes  map[string]string
	headers map[string]bool
	listed  map[string]bool
}

func (c *candidates) note(r rawLine) {
	name := strings.ToLower(r.cand)
	if attendeeLabels[name] {
		// "ppl: kasia, tomas, li wei": the people whose "kasia:"
		// lines further down are theirs.
		for _, p := range strings.Split(r.candRest, ",") {
			if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
				c.listed[p] = true
			}
		}
	}
	c.counts[name]++
	if _, ok := c.shapes[name]; !ok {
		c.shapes[name] = r.cand
	}
	if r.candRest == "" || r.timed {
		// "Marco:" alone heads a block; "[10:02] Sam:" is a chat line.
		c.headers[name] = true
	}
}

// unitParser is parse's second pass: it turns raw lines into units,
// carrying what a line inherits from the lines before it (the speaker, the
// section, the email, the table).
type unitParser struct {
	raws     []rawLine
	speakers map[string]bool
	units    []unit

	inSection, inDecisions, inAside bool
	lastSpeaker, header             string
	lastSaid                        saidKind
	info                            *unitInfo // the email context units share
	table                           tableColumns
	prevRaw                         rawLine
	// quoting is set after a line that introduces quoted mail;
	// quotedLines once a "> " line has followed it.
	quoting, quotedLines bool
	// unquoted is set when some line is not quoted with ">": then the
	// quoted lines are earlier mail, not the whole conversation.
	unquoted bool
}

// line turns raw line ri into a unit, if it makes one, step by step.
func (p *unitParser) line(ri int, r rawLine) {
	if r.blank {
		p.lastSpeaker, p.header = "", ""
		p.table = tableColumns{}
		return
	}
	u := unit{text: r.text, bullet: r.bullet, heading: r.heading, open: r.box == ' ', checked: r.box == 'x', timed: r.timed}
	if p.tableRow(ri, &r, &u) {
		return // the header row names the columns; it is no task itself
	}
	p.quote(r, &u)
	p.prefix(r, &u)
	p.classify(ri, r, &u)
	if p.continues(r, &u) {
		return
	}
	p.attribute(&u)
	if hasLetterOrDigit(u.text) {
		p.units = append(p.units, u)
	}
}

// quote marks the unit quoted when it is earlier mail under a newer
// message: a "> " line, or any line after "On … wrote:" or "-----Original
// Message-----" (until a line without "> " follows "> " lines: an answer
// written between the quotes).
func (p *unitParser) quote(r rawLine, u *unit) {
	if p.quoting && !r.quote && p.quotedLines {
		p.quoting = false
	}
	if r.quote {
		p.quotedLines = p.quotedLines || p.quoting
	}
	u.quoted = r.quote && p.unquoted || p.quoting
	if len(p.units) == 0 {
		return // a header with nothing newer above it quotes nothing
	}
	if isOriginalMessage(r.text) {
		p.quoting, p.quotedLines = true, false
	} else if _, ok := quoteHeader(r.text); ok {
		p.quoting, p.quotedLines = true, false
	}
}

// isOriginalMessage reports whether a line separates a reply from the
// mail it quotes: "-----Original Message-----".
func isOriginalMessage(s string) bool {
	if !strings.Contains(s, "riginal") {
		return false
	}
	s = strings.ToLower(strings.Trim(s, "-_ *"))
	return s == "original message" || s == "original"
}

// tableRow reads a Markdown table row: the header row sets the columns
// (and reports true: it makes no unit); a body row becomes a task with the
// owner and due date of its cells.
func (p *unitParser) tableRow(ri int, r *rawLine, u *unit) bool {
	cells, ok := tableRow(r.text)
	if !ok {
		return false
	}
	if ri+1 < len(p.raws) && isTableRule(p.raws[ri+1].text) {
		p.table = columnsOf(cells)
		return true
	}
	if p.table.ok {
		u.text, u.bullet = p.table.taskCell(cells), true
		if owner := p.table.cell(cells, p.table.owner); hasLetter(owner) {
			u.speaker, u.said = owner, saidTag
		}
		if due := p.table.cell(cells, p.table.due); due != "" {
			u.info = &unitInfo{due: due}
		}
		r.cand = ""
	}
	return false
}

// prefix reads what a "Word:" prefix makes of the line: a speaker, a task
// label ("TODO(alice):", "Action item:") or a meta label ("From:",
// "Decision:"); and a task marker written without a colon.
func (p *unitParser) prefix(r rawLine, u *unit) {
	if r.cand != "" {
		name := strings.ToLower(r.cand)
		switch {
		case p.speakers[name]:
			u.speaker, u.text, u.said = r.cand, r.candRest, saidLine
			if r.candRest == "" {
				// "Marco:" on a line of its own heads Marco's notes.
				p.header = r.cand
			}
		case isActionLabel(name):
			u.marker, u.text = true, r.candRest
			if r.candRest == "" {
				u.heading = true
			} else if r.candNote != "" && hasLetter(r.candNote) && !strings.ContainsAny(r.candNote, "0123456789") {
				u.speaker, u.said = r.candNote, saidTag // "TODO(alice): …" names its owner
			}
		case has(metaLabels, name):
			if name == "from" {
				p.info = &unitInfo{author: senderName(r.candRest)}
			}
			u.text = r.cand + ": " + cleanInline(r.candRest)
			u.labelEnd = len(r.cand) + 1
			u.title = titleLabels[name] && r.candRest != ""
			u.meta = has(logistics, name)
		}
	}
	if u.speaker == "" && !u.heading && !u.bullet && !u.marker && u.labelEnd == 0 {
		// A task marker without a colon: "TODO fix the flaky test".
		if owner, rest, ok := cutTodo(u.text); ok {
			u.marker, u.speaker, u.text = true, owner, rest
			if owner != "" {
				u.said = saidTag
			}
		}
	}
}

// classify decides whether the line is a heading or the title, and which
// section (action items, decisions) it sits in.
func (p *unitParser) classify(ri int, r rawLine, u *unit) {
	raws := p.raws
	listFollows := ri+1 < len(raws) && (raws[ri+1].bullet || raws[ri+1].box != 0)
	if !u.heading && !u.bullet && u.box() == 0 && u.speaker == "" && (isHeadingLike(u.text) ||
		(!u.marker && u.labelEnd == 0 && listFollows && (isListHeader(u.text) || isTaskListIntro(u.text)))) {
		u.heading = true
	}
	if len(p.units) == 0 && (r.h1 || (ri+1 < len(raws) && raws[ri+1].blank && looksLikeTitle(*u))) {
		// A first line on its own, short and unpunctuated, names the
		// conversation: "# Kickoff", "Daily standup — Payments, 12 March".
		u.title = true
	}
	if u.heading {
		p.inSection = isActionHeading(u.text) || isTaskListIntro(u.text) || (u.marker && u.text == "")
		p.inDecisions = strings.Contains(strings.ToLower(u.text), "decision") || strings.Contains(strings.ToLower(u.text), "decided")
		p.inAside = !p.inSection && isAsideHeading(u.text)
		if u.marker && u.text == "" {
			u.text = r.text
		}
		u.text = strings.TrimRight(strings.TrimSpace(u.text), ":")
		p.header = ""
	} else if r.prevBlank && !u.bullet && u.box() == 0 {
		// A paragraph after a blank line ends a task list.
		p.inSection, p.inDecisions, p.inAside = false, false, false
		// "We looked at three options:" lists what was weighed, not tasks.
		p.inAside = listFollows && isOptionsIntro(u.text)
	}
	u.section = p.inSection && !u.heading
	u.decision = p.inDecisions && !u.heading
	u.aside = p.inAside && !u.heading
	u.text = cleanInline(u.text)
}

// continues joins a line that continues the unit before it to that unit
// and reports true: chat messages continue on following lines without
// repeating the speaker, indented lines continue a bullet, hard-wrapped
// prose continues in lower case. A new line of a chat message keeps its
// speaker.
func (p *unitParser) continues(r rawLine, u *unit) bool {
	n := len(p.units)
	if n == 0 || p.prevRaw.blank || u.speaker != "" || u.heading || u.bullet || u.box() != 0 || u.marker || u.labelEnd != 0 {
		return false
	}
	prev := &p.units[n-1]
	switch {
	case r.indented && (prev.bullet || prev.box() != 0):
		prev.text = joinText(prev.text, u.text)
		return true
	case !prev.heading && endsOpen(prev.text) && startsLower(u.text) && len(prev.text) >= 40:
		prev.text = joinText(prev.text, u.text)
		return true
	case p.lastSpeaker != "" && !prev.bullet:
		u.speaker, u.said = p.lastSpeaker, p.lastSaid
	}
	return false
}

// attribute gives the unit the speaker of the block it is under and the
// email it belongs to ("Hi Raj," names whom the mail speaks to, "On …
// Raj Patel wrote:" who wrote what follows), and remembers its speaker for
// the lines after it.
func (p *unitParser) attribute(u *unit) {
	if u.speaker == "" && p.header != "" {
		u.speaker, u.said = p.header, saidHeader
	}
	if u.speaker == "" && !u.heading && !u.bullet && len(u.text) < 200 {
		if name, ok := greeting(u.text); ok {
			i := unitInfo{to: name}
			if p.info != nil {
				i.author = p.info.author
			}
			p.info = &i
		} else if name, ok := quoteHeader(u.text); ok {
			p.info = &unitInfo{author: name}
		}
	}
	if u.info == nil {
		u.info = p.info
	}
	if u.speaker != "" {
		p.lastSpeaker, p.lastSaid = u.speaker, u.said
	}
}

// looksLikeTitle reports whether a first line reads as a title.
func looksLikeTitle(u unit) bool {
	if u.speaker != "" || u.bullet || u.box() != 0 || u.marker || u.labelEnd > 0 || !endsOpen(u.text) {
		return false
	}
	return len(strings.Fields(u.text)) <= 12
}

// titleLabels introduce a line that names the whole conversation.
var titleLabels = map[string]bool{"subject": true, "title": true, "re": true, "topic": true}

// box reports the unit's task-list box: 0, ' ' (open) or 'x' (checked).
func (u *unit) box() byte {
	switch {
	case u.open:
		return ' '
	case u.checked:
		return 'x'
	}
	return 0
}

func parseLine(l string) rawLine {
	r := rawLine{indented: strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")}
	s := strings.TrimSpace(strings.ReplaceAll(l, "\t", " "))
	for strings.HasPrefix(s, ">") {
		s = strings.TrimSpace(s[1:])
		r.quote = true
	}
	if s == "" {
		r.blank = true
		return r
	}
	if t := stripTimestamp(s); t != s {
		r.timed, s = true, t
	}
	if h := strings.TrimLeft(s, "#"); len(h) < len(s) && len(s)-len(h) <= 6 && (h == "" || h[0] == ' ') {
		r.heading, r.h1 = true, len(s)-len(h) == 1
		s = strings.TrimSpace(strings.TrimRight(h, "# "))
	}
	if loc := bulletRE.FindStringIndex(s); loc != nil && !r.heading && !isBold(s) {
		r.bullet = true
		s = s[loc[1]:]
	}
	if m := boxRE.FindStringSubmatch(s); m != nil {
		r.box = ' '
		if m[1] != " " && m[1] != "" {
			r.box = 'x'
		}
		s = s[len(m[0]):]
	}
	s = stripTimestamp(s)
	if m := speakerRE.FindStringSubmatchIndex(s); m != nil {
		r.cand = strings.TrimSpace(s[m[2]:m[3]])
		if m[4] >= 0 {
			r.candNote = strings.TrimSpace(s[m[4]:m[5]])
		}
		r.candRest = stripTimestamp(strings.TrimSpace(s[m[1]:]))
	} else if m := ircRE.FindStringSubmatchIndex(s); m != nil {
		r.cand = strings.TrimSpace(s[m[2]:m[3]])
		r.candRest = strings.TrimSpace(s[m[1]:])
	}
	if r.cand != "" && !plausibleName(r.cand) {
		r.cand, r.candRest = "", ""
	}
	r.text = s
	if r.cand != "" && strings.HasPrefix(s, "<") {
		r.text = r.cand + ": " + r.candRest
	}
	if isBold(s) {
		// "**Action items**" on a line of its own is a heading.
		r.heading = true
	}
	return r
}

// stripTimestamp removes a leading clock time or bracketed date-time.
func stripTimestamp(s string) string {
	if strings.HasPrefix(s, "[") {
		if end := strings.IndexByte(s, ']'); end > 1 && end < 48 {
			inner := s[1:end]
			if strings.ContainsAny(inner, "0123456789") && strings.ContainsAny(inner, ":/-") && !hasLetterRun(inner, 10) {
				return strings.TrimSpace(strings.TrimLeft(s[end+1:], " -–—|"))
			}
		}
	}
	if loc := timeRE.FindStringIndex(s); loc != nil {
		return strings.TrimSpace(s[loc[1]:])
	}
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		if loc := exportRE.FindStringIndex(s); loc != nil {
			return strings.TrimSpace(s[loc[1]:])
		}
	}
	return s
}

// hasLetterRun reports whether s has more than n letters in a row, which a
// date never has ("Mar 4" has three) but a link text does.
func hasLetterRun(s string, n int) bool {
	run := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			run++
			if run > n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// plausibleName reports whether a "Word:" prefix could be a speaker or a
// label: at most three words, none a pure number, none a common function
// word ("The plan:" is a sentence, not a speaker).
func plausibleName(name string) bool {
	words := strings.Fields(name)
	if len(words) == 0 || len(words) > 3 {
		return false
	}
	lower := strings.ToLower(name)
	if isActionLabel(lower) || has(metaLabels, lower) {
		return true
	}
	for _, w := range words {
		lw := strings.ToLower(w)
		if !hasLetter(w) || (has(englishStop, lw) && !has(roleNames, lw)) {
			return false
		}
	}
	return true
}

// acceptSpeakers decides which "Name:" prefixes are speakers rather than
// labels ("Target:", "Decision:"). A candidate is a speaker when
//   - it opens two or more lines, or is a role ("Customer:");
//   - it is a capitalised, person-like name alone on its line heading a
//     block ("Marco:") or following a timestamp ("[10:02] Sam:");
//   - it is person-like, the document has other candidates, and the
//     document is a chat (most lines are prefixed), someone speaks
//     repeatedly, or the name occurs elsewhere ("Attendees: Dana, Lee").
//
// Labels never are. counts is keyed by the lower-case name; shapes holds
// the name as first written; headers marks names seen alone on their line
// or after a timestamp; content is the whole text.
func acceptSpeakers(counts map[string]int, shapes map[string]string, headers map[string]bool, chat bool, content string) map[string]bool {
	distinct, repeated := 0, false
	for name, n := range counts {
		if !isLabel(name) {
			distinct++
			repeated = repeated || n >= 2
		}
	}
	// words counts each lower-cased word of the content; capitalised, its
	// capitalised occurrences only. A name written with a capital is
	// mentioned where it is written so again ("Attendees: Dana, Lee"),
	// while "Cabinets:" over a list is not a speaker because "the
	// cabinets" comes up later. Built only if needed.
	var words, capitalised map[string]int
	mentions := func(name, shape string) int {
		if words == nil {
			words, capitalised = map[string]int{}, map[string]int{}
			for w := range strings.FieldsFuncSeq(content, func(r rune) bool { return !isWordRune(r) && r != '\'' && r != '’' }) {
				lw := strings.ToLower(w)
				words[lw]++
				if startsUpper(w) {
					capitalised[lw]++
				}
			}
		}
		counted := words
		if startsUpper(shape) {
			counted = capitalised
		}
		n := -1
		for w := range strings.FieldsFuncSeq(name, func(r rune) bool { return !isWordRune(r) && r != '\'' && r != '’' }) {
			if c := counted[w]; n < 0 || c < n {
				n = c
			}
		}
		return n
	}
	out := make(map[string]bool, len(counts))
	for name, n := range counts {
		if isLabel(name) {
			continue
		}
		switch {
		case n >= 2 || has(roleNames, name):
			out[name] = true
		case headers[name] && personLike(shapes[name]) && startsUpper(shapes[name]):
			out[name] = true
		case distinct >= 2 && personLike(shapes[name]):
			out[name] = chat || repeated || mentions(name, shapes[name]) > n
		}
	}
	return out
}

// personLike reports whether name looks like a person's name: one word, or
// up to three capitalised ones, with no digits.
func personLike(name string) bool {
	words := strings.Fields(name)
	if len(words) == 0 || len(words) > 3 || strings.ContainsAny(name, "0123456789") {
		return false
	}
	if len(words) == 1 {
		return true
	}
	for _, w := range words {
		r, _ := utf8.DecodeRuneInString(w)
		if !unicode.IsUpper(r) {
			return false
		}
	}
	return true
}

func isLabel(name string) bool { return isActionLabel(name) || has(metaLabels, name) }

// isActionLabel reports whether a lower-case label names tasks.
func isActionLabel(name string) bool {
	name = strings.Trim(name, " *_:")
	if has(actionLabels, name) {
		return true
	}
	for _, p := range actionLabelPhrases {
		if name == p {
			return true
		}
	}
	return false
}

// isActionHeading reports whether a heading introduces a list of tasks:
// "## Action items", "Next steps:", "**TODO**", "4. Follow-ups & owners".
func isActionHeading(h string) bool {
	h = strings.ToLower(strings.Trim(h, " *_:#"))
	if isActionLabel(h) {
		return true
	}
	for _, p := range []string{"action item", "next step", "todo", "to-do", "to do", "follow-up", "follow up", "followup", "open items", "open tasks", "owners", "need from", "needed from", "asks"} {
		if strings.Contains(h, p) {
			return true
		}
	}
	return false
}

// isAsideHeading reports whether a heading opens a section that records
// rather than assigns: "Timeline (UTC)", "Risks", "Options considered",
// "Background", "What went wrong".
func isAsideHeading(h string) bool {
	h = strings.ToLower(h)
	for _, p := range []string{"timeline", "risk", "option", "alternative", "background", "root cause", "what went", "impact", "lessons", "history"} {
		if strings.Contains(h, p) {
			return true
		}
	}
	return false
}

// isOptionsIntro reports whether a line introduces a list of options
// weighed: "We looked at three options:", "Alternatives considered:".
func isOptionsIntro(s string) bool {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, ":") || len(s) > 120 {
		return false
	}
	s = strings.ToLower(s)
	for _, p := range []string{"option", "alternative", "looked at", "considered", "choices", "approaches"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// isTaskListIntro reports whether a line that ends in a colon introduces a
// list of tasks: "A few things we need from your side:".
func isTaskListIntro(s string) bool {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, ":") || len(strings.Fields(s)) > 12 {
		return false
	}
	if isActionHeading(s) {
		return true
	}
	// "Two things nobody has picked up yet:", "Still up for grabs:",
	// "Outstanding:": a list of tasks that wait for an owner.
	lower := strings.ToLower(s)
	for _, p := range []string{"picked up", "pick up", "up for grabs", "unassigned", "outstanding", "still need", "still to do", "left to do", "need an owner", "needs an owner", "need owners", "volunteers for"} {
		if strings.Contains(lower, p) {
			return true
		}
	}
	return false
}

// isHeadingLike reports whether a line is a short label on its own:
// "Next steps:", "**Decisions**".
func isHeadingLike(s string) bool {
	s = strings.TrimSpace(s)
	if isBold(s) {
		return true
	}
	if !strings.HasSuffix(s, ":") {
		return false
	}
	return len(strings.Fields(s)) <= 6
}

// isListHeader reports whether a line that introduces a list reads as its
// heading: a few words without closing punctuation ("What went well").
func isListHeader(s string) bool {
	// "Editing (Chris)": a trailing note in brackets does not end a sentence.
	if t := strings.TrimSpace(s); strings.HasSuffix(t, ")") {
		if i := strings.LastIndexByte(t, '('); i > 0 {
			s = t[:i]
		}
	}
	return endsOpen(s) && len(strings.Fields(s)) <= 6
}

func isBold(s string) bool {
	for _, m := range []string{"**", "__"} {
		if len(s) > 4 && strings.HasPrefix(s, m) && (strings.HasSuffix(s, m) || strings.HasSuffix(s, m+":")) && !strings.Contains(strings.TrimSuffix(strings.TrimSuffix(s, ":"), m)[2:], m) {
			return true
		}
	}
	return false
}

// cutTodo removes a leading "TODO" or "FIXME" written without a colon,
// returning the owner of "TODO(alice) …" separately.
func cutTodo(s string) (owner, rest string, ok bool) {
	for _, p := range []string{"TODO", "todo", "ToDo", "FIXME", "fixme"} {
		rest, ok := strings.CutPrefix(s, p)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '-' && rest[0] != '(') {
			continue
		}
		rest = strings.TrimLeft(rest, " -–—")
		if strings.HasPrefix(rest, "(") {
			if end := strings.IndexByte(rest, ')'); end > 0 {
				owner, rest = strings.TrimSpace(rest[1:end]), rest[end+1:]
			}
		}
		rest = strings.TrimLeft(rest, " :-–—")
		return owner, rest, rest != ""
	}
	return "", s, false
}

// cleanInline removes markdown emphasis and link targets, keeping the words.
func cleanInline(s string) string {
	if strings.Contains(s, "](") {
		s = linkRE.ReplaceAllString(s, "$1")
	}
	if strings.Contains(s, "**") || strings.Contains(s, "__") || strings.Contains(s, "~~") {
		s = strings.NewReplacer("**", "", "__", "", "~~", "").Replace(s)
	}
	return strings.TrimSpace(s)
}

func joinText(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}

// endsOpen reports whether a line ends mid-sentence.
func endsOpen(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(strings.TrimSpace(s))
	return r != utf8.RuneError && !isTerminator(r) && r != ':' && !isCloser(r)
}

func startsUpper(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsUpper(r)
}

func startsLower(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLower(r)
}

func hasLetterOrDigit(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0
}

// tableColumns says which cells of a Markdown table's rows hold the task,
// its owner and its due date (-1 when the table has no such column).
type tableColumns struct {
	ok               bool
	task, owner, due int
}

// tableRow splits "| a | b |" into its cells.
func tableRow(s string) ([]string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 3 || s[0] != '|' || s[len(s)-1] != '|' {
		return nil, false
	}
	cells := strings.Split(s[1:len(s)-1], "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells, len(cells) >= 2
}

// isTableRule reports whether a line is the rule under a table's header:
// "|---|:---:|".
func isTableRule(s string) bool {
	cells, ok := tableRow(s)
	if !ok {
		return false
	}
	for _, c := range cells {
		if strings.Trim(c, ":- ") != "" || !strings.Contains(c, "-") {
			return false
		}
	}
	return true
}

// columnsOf reads a header row: the task is in the column named for it
// ("Action", "Task", "What"), else in the widest; the owner and due date in
// theirs.
func columnsOf(header []string) tableColumns {
	c := tableColumns{ok: true, task: -1, owner: -1, due: -1}
	for i, h := range header {
		switch strings.ToLower(strings.Trim(h, " *_")) {
		case "action", "actions", "action item", "task", "tasks", "item", "what", "todo", "to do", "description", "follow-up", "next step":
			c.task = i
		case "owner", "owners", "who", "assignee", "assigned to", "responsible", "dri":
			c.owner = i
		case "due", "due date", "when", "deadline", "by", "eta", "date", "target date":
			c.due = i
		}
	}
	return c
}

// cell returns cell i of a row, or "" when the row has none.
func (c tableColumns) cell(cells []string, i int) string {
	if i < 0 || i >= len(cells) {
		return ""
	}
	return cells[i]
}

// taskCell returns the task of a row: its task column's cell, or, in a
// table that names none, its longest cell.
func (c tableColumns) taskCell(cells []string) string {
	if c.task >= 0 {
		return c.cell(cells, c.task)
	}
	longest := ""
	for _, s := range cells {
		if len(s) > len(longest) {
			longest = s
		}
	}
	return longest
}

// senderName is the person in an email's "From:" value: "Hannah Becker
// <hannah@example.com>" or "Daniel Ofori (Customer Success)" gives the
// name, a bare address gives nothing.
func senderName(v string) string {
	if i := strings.IndexAny(v, "<("); i >= 0 {
		v = v[:i]
	}
	v = strings.Trim(strings.TrimSpace(v), `"'`)
	if !hasLetter(v) || strings.Contains(v, "@") || len(strings.Fields(v)) > 4 {
		return ""
	}
	return v
}

// greeting reads the name a message opens with: "Hi Raj,", "Dear Mr.
// Halvorsen,", "Hello Sophie and Mark,", or a name alone: "Daniel,".
func greeting(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, ",") && !strings.HasSuffix(s, "!") {
		return "", false
	}
	s = strings.TrimRight(s, ",! ")
	words := strings.Fields(s)
	if len(words) == 0 || len(words) > 5 {
		return "", false
	}
	switch strings.ToLower(words[0]) {
	case "hi", "hello", "hey", "dear", "morning", "evening", "afternoon":
		words = words[1:]
	default:
		if len(words) > 2 {
			return "", false
		}
	}
	if len(words) == 0 {
		return "", false
	}
	for _, w := range words {
		lw := strings.ToLower(w)
		if lw == "and" || lw == "&" {
			continue
		}
		r, _ := utf8.DecodeRuneInString(w)
		if !unicode.IsUpper(r) || has(englishStop, lw) || has(greetingNotNames, lw) {
			return "", false
		}
	}
	return strings.Join(words, " "), true
}

// attendeeLabels introduce a list of the people present.
var attendeeLabels = map[string]bool{"attendees": true, "present": true, "participants": true, "ppl": true, "people": true}

// quoteHeader reads the author of quoted mail from the line that
// introduces it: "On 17 Mar 2026, at 16:02, Raj Patel <raj@example.com>
// wrote:".
func quoteHeader(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "On ") || !strings.HasSuffix(s, "wrote:") {
		return "", false
	}
	s = strings.TrimSuffix(s, "wrote:")
	if i := strings.IndexByte(s, '<'); i > 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ','); i > 0 {
		s = s[i+1:]
	}
	name := senderName(s)
	return name, name != ""
}

// greetingNotNames open a message to a group, not a person: "Hi all,".
var greetingNotNames = wordSet(`team all everyone folks guys there both thanks regards best cheers`)
