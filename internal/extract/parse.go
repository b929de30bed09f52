package extract

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// unit is one logical line of a conversation: a chat message, a bullet, a
// heading or a paragraph, with the markup that frames it parsed off.
type unit struct {
	text     string // the words, without timestamp, bullet, checkbox or speaker
	speaker  string // "Alice" for "Alice: …"; empty when none
	labelEnd int    // text[:labelEnd] is a meta label such as "Decision:"; not keyword material
	bullet   bool
	open     bool // an unchecked task-list box: "- [ ] …"
	checked  bool // a checked one: "- [x] …"
	heading  bool
	marker   bool // had a task label ("TODO:", "Action item:") that was removed
	section  bool // sits under an "Action items" / "Next steps" heading
	decision bool // sits under a "Decisions" heading
	title    bool // names the whole conversation: a leading "# Heading" or a "Subject:" line
	meta     bool // says when, where or who, not what: "Date:", "Attendees:"
}

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
	ircRE     = regexp.MustCompile(`^<([\p{L}][\p{L}\p{N}._'’ -]{0,38})>\s+`)
	bulletRE  = regexp.MustCompile(`^(?:[-*+–—]\s+|[•·‣◦▪]\s*|\d{1,3}[.)]\s+|[a-zA-Z][.)]\s+)`)
	boxRE     = regexp.MustCompile(`^\[([ xX✓✔-]?)\]\s*`)
	linkRE    = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// parse turns content into units. It strips what frames the words
// (timestamps, bullets, checkboxes, quote marks, markdown emphasis) and
// records what that framing means (a speaker, a task, a heading).
func parse(content string) []unit {
	lines := strings.Split(content, "\n")
	raws := make([]rawLine, 0, len(lines))
	counts, shapes, headers := map[string]int{}, map[string]string{}, map[string]bool{}
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
			name := strings.ToLower(r.cand)
			counts[name]++
			if _, ok := shapes[name]; !ok {
				shapes[name] = r.cand
			}
			if r.candRest == "" || r.timed {
				// "Marco:" alone heads a block; "[10:02] Sam:" is a chat line.
				headers[name] = true
			}
		}
		raws = append(raws, r)
	}
	chat := nonBlank >= 2 && prefixed*2 >= nonBlank
	speakers := acceptSpeakers(counts, shapes, headers, chat, strings.ToLower(content))

	var units []unit
	inSection, inDecisions, lastSpeaker, header := false, false, "", ""
	prevRaw := rawLine{blank: true}
	for ri, r := range raws {
		if r.blank {
			lastSpeaker, header = "", ""
			prevRaw = r
			continue
		}
		u := unit{text: r.text, bullet: r.bullet, heading: r.heading, open: r.box == ' ', checked: r.box == 'x'}
		if r.cand != "" {
			name := strings.ToLower(r.cand)
			switch {
			case speakers[name]:
				u.speaker, u.text = r.cand, r.candRest
				if r.candRest == "" {
					// "Marco:" on a line of its own heads Marco's notes.
					header = r.cand
				}
			case isActionLabel(name):
				u.marker, u.text = true, r.candRest
				if r.candRest == "" {
					u.heading = true
				} else if r.candNote != "" && hasLetter(r.candNote) && !strings.ContainsAny(r.candNote, "0123456789") {
					u.speaker = r.candNote // "TODO(alice): …" names its owner
				}
			case has(metaLabels, name):
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
			}
		}
		if !u.heading && !u.bullet && u.box() == 0 && u.speaker == "" && (isHeadingLike(u.text) ||
			(!u.marker && u.labelEnd == 0 && ri+1 < len(raws) && (raws[ri+1].bullet || raws[ri+1].box != 0) && isListHeader(u.text))) {
			u.heading = true
		}
		if len(units) == 0 && (r.h1 || (ri+1 < len(raws) && raws[ri+1].blank && looksLikeTitle(u))) {
			// A first line on its own, short and unpunctuated, names the
			// conversation: "# Kickoff", "Daily standup — Payments, 12 March".
			u.title = true
		}
		if u.heading {
			inSection = isActionHeading(u.text) || (u.marker && u.text == "")
			inDecisions = strings.Contains(strings.ToLower(u.text), "decision") || strings.Contains(strings.ToLower(u.text), "decided")
			if u.marker && u.text == "" {
				u.text = r.text
			}
			u.text = strings.TrimRight(strings.TrimSpace(u.text), ":")
			header = ""
		} else if r.prevBlank && !u.bullet && u.box() == 0 {
			// A paragraph after a blank line ends a task list.
			inSection, inDecisions = false, false
		}
		u.section = inSection && !u.heading
		u.decision = inDecisions && !u.heading
		u.text = cleanInline(u.text)

		// Chat messages continue on following lines without repeating the
		// speaker; indented lines continue a bullet; hard-wrapped prose
		// continues in lower case.
		if n := len(units); n > 0 && !prevRaw.blank && u.speaker == "" && !u.heading && !u.bullet && u.box() == 0 && !u.marker && u.labelEnd == 0 {
			prev := &units[n-1]
			switch {
			case r.indented && (prev.bullet || prev.box() != 0):
				prev.text = joinText(prev.text, u.text)
				prevRaw = r
				continue
			case !prev.heading && endsOpen(prev.text) && startsLower(u.text) && len(prev.text) >= 40:
				prev.text = joinText(prev.text, u.text)
				prevRaw = r
				continue
			case lastSpeaker != "" && !prev.bullet:
				u.speaker = lastSpeaker
			}
		}
		if u.speaker == "" && header != "" {
			u.speaker = header
		}
		if u.speaker != "" {
			lastSpeaker = u.speaker
		}
		prevRaw = r
		if hasLetterOrDigit(u.text) {
			units = append(units, u)
		}
	}
	return units
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
// or after a timestamp; lower is the lower-cased content.
func acceptSpeakers(counts map[string]int, shapes map[string]string, headers map[string]bool, chat bool, lower string) map[string]bool {
	distinct, repeated := 0, false
	for name, n := range counts {
		if !isLabel(name) {
			distinct++
			repeated = repeated || n >= 2
		}
	}
	var words map[string]int // built only if needed
	mentions := func(name string) int {
		if words == nil {
			words = map[string]int{}
			for w := range strings.FieldsFuncSeq(lower, func(r rune) bool { return !isWordRune(r) && r != '\'' && r != '’' }) {
				words[w]++
			}
		}
		n := -1
		for w := range strings.FieldsFuncSeq(name, func(r rune) bool { return !isWordRune(r) && r != '\'' && r != '’' }) {
			if c := words[w]; n < 0 || c < n {
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
			out[name] = chat || repeated || mentions(name) > n
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
	for _, p := range []string{"action item", "next step", "todo", "to-do", "to do", "follow-up", "follow up", "followup", "open items", "open tasks", "owners"} {
		if strings.Contains(h, p) {
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
