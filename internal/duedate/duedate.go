// Package duedate reads when something is due from the words people use
// for it ("by Friday", "EOD", "next week", "12th of March", "in 2 weeks",
// "by Q1") and resolves them to a calendar date against the day the
// conversation was posted. Both analyzers use it: the local one on the
// sentence of each action item, the model-backed one on the date phrase the
// model returns, so that "next Friday" means the same whichever analyzer
// read it, and a model's arithmetic on dates is never trusted.
//
// It invents nothing: text without a date phrase gives no date, and so does
// a phrase it cannot pin to one day ("soon", "later", "12/03" with no date
// order configured).
//
// # What the phrases mean
//
// Weeks start on Monday; the working week ends on Friday.
//
//   - "today", "tonight", "overnight", "this afternoon": the reference day.
//     "EOD", "COB", "end of day", "by noon", "by lunch", "in 30 minutes",
//     "in 3 hours" also give the day they fall on, but only when the text
//     names no day: "EOD Friday" and "tomorrow EOD" are due Friday and
//     tomorrow.
//   - "tomorrow": the next day; "the day after tomorrow": the one after.
//   - "Friday", "by Friday", "on Friday", "this Friday": the first Friday on
//     or after the reference day, so "by Friday" said on a Friday is today.
//     People who mean a week later say "next Friday"; reading it as today
//     is the earlier of the two readings, and a deadline read a week early
//     gets noticed while one read a week late gets missed.
//   - "next Friday", "Friday next week": the Friday of next week (the week
//     after the reference day's). It is what distinguishes "next" from
//     "this": said on a Tuesday, "this Friday" is in three days and "next
//     Friday" in ten. On a Saturday or Sunday, both are the coming Friday.
//   - "end of week", "EOW", "this week", "later this week": the Friday of
//     this week; on a Saturday or Sunday, the coming Friday.
//   - "next week", "end of next week": the Friday of next week. A deadline
//     of "next week" means "before next week is over", so its last working
//     day; "early next week", "start of next week": its Monday.
//   - "this weekend", "over the weekend": the coming Sunday; "by the
//     weekend": the coming Friday; "next weekend": the Sunday of next week.
//   - "end of month", "EOM", "this month": the month's last day; "next
//     month", "end of next month": next month's last day.
//   - "Q1" … "Q4" after "by", "in", "before", "until", "end of" (or with a
//     year, "Q1 2027"): the quarter's last day, this year's if it has not
//     ended, else next year's. "this quarter", "EOQ": the current quarter's
//     last day; "next quarter": the next one's. "H1", "H2": 30 June, 31
//     December, likewise. "end of year", "EOY", "this year": 31 December.
//   - "by March", "in March", "end of March": the month's last day, this
//     year's March if it has not ended, else next year's. A named period
//     as a deadline means its end, as "by Q1" does.
//   - "Wed 24th": the next 24th of a month; the weekday only confirms it.
//   - "12 March", "March 12th", "12th of March", "Mar 12": the next 12 March
//     on or after the reference day (so next year's once it has passed); a
//     29 February is the next one that exists. With a year ("12 March 2027",
//     "2026-12-11") the date is as written, even if it has passed: an
//     overdue item is still due when it was.
//   - "by the 15th": the next 15th of a month on or after the reference day.
//   - "12/03", "12/03/2026", "12.03.2026": day/month or month/day as
//     Options.Order says; with no order, only when one reading is
//     impossible ("3/14") or both agree ("5/5"). A bare "12/03" needs "by",
//     "on", "due" … in front, since fractions look the same.
//   - "in 3 days", "within 2 weeks", "in a month", "two weeks from now",
//     "in 5 business days": counted from the reference day (a month ahead
//     of 31 January is 28 or 29 February).
//   - "before X", where X is a day, a date, a month or a quarter: the day
//     before X starts ("before Thursday" is Wednesday, "before March" the
//     last day of February), but never before the reference day. So is
//     "before" an event on a date: "before the strip-out starts on 22
//     June" is 21 June; but "before lunch on Friday" is Friday.
//   - "last Friday", "since Monday", "from Tuesday", "every Friday",
//     "after Friday", "Mondays", "a no-meeting Wednesday", "I can start
//     next week": no date; they are not deadlines.
//
// When the text has several phrases, the first that names a day wins.
//
// # Invariant
//
// A date is returned only if it is valid, and it is never before the
// reference day (in Options.Location) nor more than ten years and a month
// after it, unless the text spells out the date's year.
package duedate

import (
	"fmt"
	"strings"
	"time"

	"recall/internal/recall"
)

// Order says how to read a numeric date such as 12/03.
type Order int

const (
	// OrderUnknown leaves a numeric date that could be read either way
	// ("12/03") without a date: guessing would be wrong for half the world.
	OrderUnknown Order = iota
	// DMY reads 12/03 as 12 March.
	DMY
	// MDY reads 12/03 as 3 December.
	MDY
)

// ParseOrder reads a date order as configured: "" (unknown), "dmy" or
// "mdy", in any case.
func ParseOrder(s string) (Order, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return OrderUnknown, nil
	case "dmy":
		return DMY, nil
	case "mdy":
		return MDY, nil
	}
	return OrderUnknown, fmt.Errorf("duedate: date order %q: want dmy, mdy or nothing", s)
}

// String names the order as ParseOrder reads it.
func (o Order) String() string {
	switch o {
	case DMY:
		return "dmy"
	case MDY:
		return "mdy"
	}
	return ""
}

// Options says how to read dates.
type Options struct {
	// Location is where the conversation's days begin and end: the
	// reference time's day, "EOD" and "in 3 hours" are read in it. Nil
	// means UTC.
	Location *time.Location
	// Order reads numeric dates such as 12/03.
	Order Order
}

// Limits on "in N days/weeks/months": anything further out is not a
// deadline anyone set in a conversation, and the bound keeps the arithmetic
// far from overflow.
const (
	maxDays   = 3660
	maxWeeks  = 520
	maxMonths = 120
	maxHours  = 24 * 14
	maxMins   = 60 * 24 * 14
)

// Find returns the due date named by the first date phrase in text,
// resolved against ref, the time the text was written. ok is false when
// the text names no date. With a zero ref, only dates that spell out their
// year can be resolved.
func Find(text string, ref time.Time, o Options) (date recall.Date, ok bool) {
	p, ok := FindPhrase(text, ref, o)
	return p.Date, ok
}

// Phrase is the date phrase Find reads a due date from, and where it is in
// the text, so that a caller can show a task without the words its due
// date was taken from, or tell a deadline ("by the 6th") from a date that
// only parameterises the task ("rebook the crane for the 6th").
type Phrase struct {
	Date recall.Date
	// Start and End are the byte offsets of the phrase in the text: from
	// the word that introduces it ("by", "before", "on", "no later than",
	// "for"), when one does, to its last word, and on over a trailing "at
	// the latest".
	Start, End int
	// Cue is the introducing word in lower case ("by", "for", "on", …), or
	// "" when the phrase stands alone ("tomorrow").
	Cue string
}

// FindPhrase is Find, returning the phrase as well as its date.
func FindPhrase(text string, ref time.Time, o Options) (Phrase, bool) {
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	if !mayHaveDate(text) {
		return Phrase{}, false
	}
	p := parser{toks: tokenize(text), order: o.Order, hasRef: !ref.IsZero()}
	if p.hasRef {
		p.ref = ref.In(loc)
		p.today = recall.DateOf(p.ref)
	}
	if len(p.toks) == 0 {
		return Phrase{}, false
	}
	var weak Phrase
	found := false
	for i := 0; i < len(p.toks); {
		m, n := p.at(i)
		if n == 0 {
			i++
			continue
		}
		at := i
		i += n
		if !m.ok || !m.d.Valid() {
			continue
		}
		if !m.explicit && p.hasRef && (m.d.Compare(p.today) < 0 || m.d.Compare(p.today.AddDays(maxDays+31)) > 0) {
			continue
		}
		if !m.weak {
			return p.phrase(m.d, at, i), true
		}
		if !found {
			weak, found = p.phrase(m.d, at, i), true
		}
	}
	return weak, found
}

// phrase describes the date d read from tokens [i, j).
func (p *parser) phrase(d recall.Date, i, j int) Phrase {
	start := i
	if p.word(start-1) == "of" && (p.word(start-2) == "end" || p.word(start-2) == "close") {
		start -= 2 // "end of March", "end of Q2": read from the month
	}
	for start > 0 && (timeOfDay(p.word(start-1)) || p.word(start-1) == "next" || p.word(start-1) == "this") {
		start-- // "EOD tomorrow", "noon Friday", "next Friday"
	}
	if p.word(start-1) == "the" {
		start--
	}
	cue := ""
	if w := p.word(start); w == "in" || w == "within" {
		cue = w // "in 2 weeks" starts with its cue
	}
	switch w := p.word(start - 1); {
	case w == "than" && p.word(start-2) == "later" && p.word(start-3) == "no":
		start, cue = start-3, "no later than"
	case w == "to" && p.word(start-2) == "prior":
		start, cue = start-2, "prior to"
	case deadlineWord(w) || w == "for" || w == "at" || w == "from" || w == "to":
		start, cue = start-1, w
	}
	end := j
	for end < len(p.toks) && timeOfDay(p.word(end)) {
		end++ // "tomorrow morning", "Friday EOD"
	}
	if p.word(end) == "at" && p.word(end+1) == "the" && p.word(end+2) == "latest" {
		end += 3
	}
	return Phrase{Date: d, Start: int(p.toks[start].start), End: int(p.toks[end-1].end), Cue: cue}
}

// match is what one phrase resolved to.
type match struct {
	d        recall.Date
	ok       bool
	weak     bool // a time of day: counts only if no phrase names a day
	explicit bool // the text spelled out the year
}

type parser struct {
	toks   []token
	order  Order
	hasRef bool
	ref    time.Time // the reference time in the configured location
	today  recall.Date
}

// none consumes n tokens that are a date phrase not to be read as a due
// date ("last Friday"), so their words are not matched again.
func none(n int) (match, int) { return match{}, n }

func (p *parser) word(i int) string {
	if i < 0 || i >= len(p.toks) {
		return ""
	}
	return p.toks[i].w
}

// prev is the word before position i, skipping one "the".
func (p *parser) prev(i int) string {
	w := p.word(i - 1)
	if w == "the" {
		return p.word(i - 2)
	}
	return w
}

// negated reports whether the phrase at i follows a word that makes it a
// past or recurring time, or a start, rather than a deadline.
func (p *parser) negated(i int) bool {
	switch p.word(i - 1) {
	case "last", "past", "previous", "since", "from", "after", "every", "each", "starting", "ago", "yesterday":
		return true
	case "start", "begin":
		// "I can start next week" says when work starts, not when it is due.
		return true
	case "of":
		// "as of Monday"
		return p.word(i-2) == "as"
	}
	return false
}

// kindOfDay reports whether the weekday at i names a kind of day, not a
// date: "propose a no-meeting Wednesday", "it was a quiet Friday". An
// article shortly before it, with no preposition between, makes it one.
func (p *parser) kindOfDay(i int) bool {
	for k := i - 1; k >= 0 && k >= i-3; k-- {
		switch w := p.word(k); {
		case w == "a" || w == "an":
			return true
		case deadlineWord(w) || w == "this" || w == "next" || w == "for" || w == "at" || p.toks[k].brkAfter:
			return false
		}
	}
	return false
}

// timeOfDay reports whether w names a time of day that may stand next to
// a day in its phrase: "by EOD tomorrow", "Friday morning".
func timeOfDay(w string) bool {
	switch w {
	case "eod", "cob", "eob", "noon", "midday", "lunch", "lunchtime", "morning", "afternoon", "evening", "night", "tonight":
		return true
	}
	return false
}

// before reports whether the phrase at i follows "before" (or "prior to"),
// directly or as the date of an event that does: "before the strip-out
// starts on 22 June", "before the council meeting on 9 June" (but not
// "before lunch on Friday", which is on Friday).
func (p *parser) before(i int) bool {
	w := p.prev(i)
	if w == "before" || (w == "to" && p.word(i-2) == "prior") {
		return true
	}
	if w != "on" {
		return false
	}
	for k := i - 2; k >= 0 && k >= i-8; k-- {
		if p.toks[k].brkAfter {
			return false
		}
		switch p.word(k) {
		case "before":
			return k < i-2
		case "lunch", "lunchtime", "noon", "midday", "end", "close", "morning", "afternoon", "evening", "day", "by", "until", "on":
			return false
		}
	}
	return false
}

// deadlineWord reports whether w introduces a date as a deadline.
func deadlineWord(w string) bool {
	switch w {
	case "by", "before", "until", "till", "til", "due", "on", "in", "within", "during", "deadline", "nlt", "thru", "through":
		return true
	}
	return false
}

// day makes a match for a date resolved relative to the reference day.
func (p *parser) day(d recall.Date, n int) (match, int) {
	if !p.hasRef {
		return none(n)
	}
	return match{d: d, ok: true}, n
}

// beforeDay applies "before": the day before d, not before today.
func (p *parser) beforeDay(i int, m match, n int) (match, int) {
	if !m.ok || !p.before(i) {
		return m, n
	}
	m.d = m.d.AddDays(-1)
	if p.hasRef && m.d.Compare(p.today) < 0 {
		m.d = p.today
	}
	return m, n
}

// at tries to read a date phrase starting at token i. It returns how many
// tokens the phrase takes (0 when none starts here) and what it resolved to.
func (p *parser) at(i int) (match, int) {
	t := p.toks[i]
	switch {
	case t.numeric:
		return p.numericDate(i)
	case t.num > 0 || t.ord > 0:
		if m, n := p.dayMonth(i); n > 0 {
			return m, n
		}
		if n := p.fromNow(i); n > 0 {
			return p.fromNowMatch(i)
		}
		return none(0)
	}
	if q, ok := quarterWord(t.w); ok {
		return p.quarter(i, q)
	}
	if m := monthAny(t.w); m != 0 && (monthWord(t) || p.dayAt(i+1) > 0) {
		return p.monthFirst(i, m)
	}
	if wd, ok := weekdayWord(t, p.prev(i)); ok {
		return p.weekday(i, wd)
	}
	if m, n, ok := p.dayWord(i); ok {
		return m, n
	}
	if n := p.fromNow(i); n > 0 {
		return p.fromNowMatch(i)
	}
	return none(0)
}

// dayWord reads a phrase that starts with a word rather than a number, a
// month or a weekday: "today", "tomorrow", "EOD", "end of March", "next
// week", "in 2 weeks", "this weekend". ok is false when none starts at i.
func (p *parser) dayWord(i int) (match, int, bool) {
	t := p.toks[i]
	switch t.w {
	case "today", "tonight", "tonite", "2day":
		if p.negated(i) {
			return found(none(1))
		}
		return found(p.day(p.today, 1))
	case "overnight":
		// "keep an eye on it overnight", not "the overnight batch".
		if w := p.word(i - 1); w == "the" || w == "an" || w == "our" || w == "every" {
			return found(none(1))
		}
		return found(p.day(p.today, 1))
	case "lunch", "lunchtime":
		// "by lunch", "before lunch", "after lunch": today, unless a day is named.
		switch p.prev(i) {
		case "by", "before", "until", "till", "after", "at":
			return found(p.weakToday(1))
		}
	case "tomorrow", "tmrw", "tmr", "tmrow", "tomorow", "tommorow", "tommorrow", "2moro", "2morrow":
		if p.word(i-1) == "after" && p.word(i-2) == "day" {
			return found(p.day(p.today.AddDays(2), 1))
		}
		if p.negated(i) {
			return found(none(1))
		}
		return found(p.day(p.today.AddDays(1), 1))
	case "month", "quarter", "year":
		// "by month end", "before the month-end close"
		if p.word(i+1) == "end" && (deadlineWord(p.prev(i)) || p.prev(i) == "this") {
			return found(p.periodEnd(i, t.w, 0, 2))
		}
	case "eod", "cob", "eob", "noon", "midday":
		return found(p.weakToday(1))
	case "eow":
		return found(p.day(p.endOfWeek(), 1))
	case "eom":
		return found(p.day(endOfMonth(p.today.Year, p.today.Month), 1))
	case "eoq":
		return found(p.day(p.quarterEnd(0), 1))
	case "eoy":
		return found(p.day(recall.Date{Year: p.today.Year, Month: time.December, Day: 31}, 1))
	case "end", "close":
		return found(p.endOf(i))
	case "this", "next", "later", "early", "start", "beginning":
		return found(p.relative(i))
	case "in", "within":
		return found(p.in(i))
	case "weekend":
		return found(p.weekend(i))
	case "the":
		if p.word(i+1) == "week" && p.word(i+2) == "after" && p.word(i+3) == "next" {
			return found(p.day(p.weekStart().AddDays(14+4), 4))
		}
	case "morning", "afternoon", "evening":
		if p.word(i-1) == "this" {
			return found(p.weakToday(1))
		}
	}
	return match{}, 0, false
}

// found marks what a case of dayWord read as a phrase (which may still
// resolve to no date: "since Tuesday").
func found(m match, n int) (match, int, bool) { return m, n, true }

func (p *parser) weakToday(n int) (match, int) {
	m, n := p.day(p.today, n)
	m.weak = true
	return m, n
}

// weekStart is the Monday of the reference day's week.
func (p *parser) weekStart() recall.Date {
	return p.today.AddDays(-((int(p.today.Weekday()) + 6) % 7))
}

// endOfWeek is this week's Friday, or the coming Friday at a weekend.
func (p *parser) endOfWeek() recall.Date {
	fri := p.weekStart().AddDays(4)
	if fri.Compare(p.today) < 0 {
		fri = fri.AddDays(7)
	}
	return fri
}

func endOfMonth(y int, m time.Month) recall.Date {
	next := recall.Date{Year: y, Month: m, Day: 1}.AddDays(32)
	return recall.Date{Year: next.Year, Month: next.Month, Day: 1}.AddDays(-1)
}

// dayAt returns the day of month written at j ("12", "12th"), or 0.
func (p *parser) dayAt(j int) int {
	if j < 0 || j >= len(p.toks) {
		return 0
	}
	t := p.toks[j]
	switch {
	case t.numeric:
		return 0
	case t.ord >= 1 && t.ord <= 31:
		return t.ord
	case t.num >= 1 && t.num <= 31 && len(t.w) <= 2:
		return t.num
	}
	return 0
}

// quarterEnd is the last day of the reference day's quarter, plus ahead
// quarters.
func (p *parser) quarterEnd(ahead int) recall.Date {
	q := (int(p.today.Month)-1)/3 + ahead // 0-based, may pass 3
	y := p.today.Year + q/4
	q %= 4
	return endOfMonth(y, time.Month(q*3+3))
}

// weekday reads "Friday", "this Friday", "next Friday", "Friday next week".
func (p *parser) weekday(i int, wd time.Weekday) (match, int) {
	t := p.toks[i]
	if p.negated(i) || t.plural || p.kindOfDay(i) {
		return none(1)
	}
	// "Friday 13 March", "Fri, Mar 13": the date says more than the weekday.
	if m, n := p.at2(i + 1); n > 0 && m.ok {
		m, n = p.beforeDay(i, m, n)
		return m, n + 1
	}
	// "Wed 24th": the next 24th, which the weekday only confirms.
	if i+1 < len(p.toks) && p.toks[i+1].ord > 0 && !p.negated(i) {
		if d, ok := p.nextDayOfMonth(p.toks[i+1].ord); ok {
			return p.beforeDay(i, match{d: d, ok: true}, 2)
		}
	}
	idx := (int(wd) + 6) % 7 // Monday 0 … Sunday 6
	if p.word(i-1) == "next" || (p.word(i+1) == "next" && p.word(i+2) == "week") {
		n := 1
		if p.word(i+1) == "next" {
			n = 3
		}
		return p.beforeDay(i, match{d: p.weekStart().AddDays(7 + idx), ok: p.hasRef}, n)
	}
	d := p.weekStart().AddDays(idx)
	if d.Compare(p.today) < 0 {
		d = d.AddDays(7)
	}
	return p.beforeDay(i, match{d: d, ok: p.hasRef}, 1)
}

// at2 reads a date written after a weekday: only an explicit day and month.
func (p *parser) at2(i int) (match, int) {
	if i >= len(p.toks) {
		return none(0)
	}
	t := p.toks[i]
	switch {
	case t.numeric:
		return p.numericDate(i)
	case t.num > 0 || t.ord > 0:
		return p.dayMonth(i)
	}
	if m := monthAny(t.w); m != 0 && p.dayAt(i+1) > 0 {
		return p.monthFirst(i, m)
	}
	return none(0)
}

// dayMonth reads "12 March", "12th of March 2027", "the 15th".
func (p *parser) dayMonth(i int) (match, int) {
	t := p.toks[i]
	day := t.num
	if t.ord > 0 {
		day = t.ord
	}
	if day < 1 || day > 31 || t.num > 31 {
		return none(0)
	}
	j := i + 1
	if p.word(j) == "of" {
		j++
	}
	if j < len(p.toks) && !p.toks[j].numeric {
		if m := monthAny(p.toks[j].w); m != 0 {
			if p.negated(i) {
				return none(j + 1 - i)
			}
			m2, n := p.withYear(j+1, day, m)
			return p.beforeDay(i, m2, n+j+1-i)
		}
	}
	// "by the 15th": a day of this or next month.
	if t.ord > 0 && p.word(i-1) == "the" && deadlineWord(p.word(i-2)) && p.word(i-2) != "in" && p.word(i-2) != "within" {
		d, ok := p.nextDayOfMonth(day)
		if !ok {
			return none(1)
		}
		return p.beforeDay(i, match{d: d, ok: true}, 1)
	}
	return none(0)
}

// nextDayOfMonth is the first date on or after today whose day of the
// month is day: this month's, or a later month's when this one's has passed
// or does not exist (the 31st in April).
func (p *parser) nextDayOfMonth(day int) (recall.Date, bool) {
	if !p.hasRef || day < 1 || day > 31 {
		return recall.Date{}, false
	}
	d := recall.Date{Year: p.today.Year, Month: p.today.Month, Day: day}
	for k := 0; k < 13 && (!d.Valid() || d.Compare(p.today) < 0); k++ {
		next := recall.Date{Year: d.Year, Month: d.Month, Day: 1}.AddDays(32)
		d = recall.Date{Year: next.Year, Month: next.Month, Day: day}
	}
	return d, d.Valid()
}

// monthFirst reads "March 12th", "Mar 12, 2027", "March 2027", and "by
// March", "end of March".
func (p *parser) monthFirst(i int, m time.Month) (match, int) {
	if p.negated(i) {
		return none(1)
	}
	if day := p.dayAt(i + 1); day > 0 {
		j := i + 2
		if p.toks[i+1].brkAfter || p.word(j) == "of" {
			// "March 12, 2027"; "March 12 of 2027" is rare but harmless.
			if p.word(j) == "of" {
				j++
			}
		}
		mm, n := p.withYear(j, day, m)
		return p.beforeDay(i, mm, n+j-i)
	}
	// A month on its own is a deadline only after "by", "in", "end of" …
	prev := p.prev(i)
	if !(deadlineWord(prev) || prev == "of" && p.word(i-2) == "end" || (prev == "of" && p.word(i-3) == "end")) {
		return none(1)
	}
	if prev == "on" {
		return none(1)
	}
	if y, ok := yearAt(p.toks, i+1); ok {
		if p.before(i) {
			return match{d: recall.Date{Year: y, Month: m, Day: 1}.AddDays(-1), ok: true, explicit: true}, 2
		}
		return match{d: endOfMonth(y, m), ok: true, explicit: true}, 2
	}
	if !p.hasRef {
		return none(1)
	}
	y := p.today.Year
	if p.before(i) {
		start := recall.Date{Year: y, Month: m, Day: 1}
		if start.Compare(p.today) <= 0 {
			start.Year++
		}
		return match{d: start.AddDays(-1), ok: true}, 1
	}
	end := endOfMonth(y, m)
	if end.Compare(p.today) < 0 {
		end = endOfMonth(y+1, m)
	}
	return match{d: end, ok: true}, 1
}

// withYear completes a day and month with a year written at j ("12 March
// 2027", "March 12, 2027"), or with the next one on or after today. It
// returns the tokens taken from j.
func (p *parser) withYear(j, day int, m time.Month) (match, int) {
	if y, ok := yearAt(p.toks, j); ok {
		d := recall.Date{Year: y, Month: m, Day: day}
		return match{d: d, ok: d.Valid(), explicit: true}, 1
	}
	if !p.hasRef {
		return none(0)
	}
	// The next such day on or after today; 29 February may be years off.
	for y := p.today.Year; y <= p.today.Year+8; y++ {
		d := recall.Date{Year: y, Month: m, Day: day}
		if d.Valid() && d.Compare(p.today) >= 0 {
			return match{d: d, ok: true}, 0
		}
	}
	return none(0)
}

// yearAt reads a four-digit year at j.
func yearAt(toks []token, j int) (int, bool) {
	if j >= len(toks) || toks[j].numeric || len(toks[j].w) != 4 {
		return 0, false
	}
	y := toks[j].num
	return y, y >= 1970 && y <= 2199
}

// numericDate reads "2026-12-11", "12/03", "12/03/2026", "12.03.2026".
func (p *parser) numericDate(i int) (match, int) {
	t := p.toks[i]
	parts, sep := splitNumeric(t.w)
	if len(parts) < 2 || len(parts) > 3 {
		return none(1)
	}
	if p.negated(i) {
		return none(1)
	}
	if len(parts) == 3 && len(parts[0].s) == 4 && sep != '.' {
		// ISO: year-month-day.
		y := parts[0].n
		d := recall.Date{Year: y, Month: time.Month(parts[1].n), Day: parts[2].n}
		if y < 1970 || y > 2199 || !d.Valid() {
			return none(1)
		}
		return p.beforeDay(i, match{d: d, ok: true, explicit: true}, 1)
	}
	if sep == '-' || (sep == '.' && len(parts) != 3) {
		return none(1)
	}
	a, b := parts[0].n, parts[1].n
	year, explicit := 0, false
	if len(parts) == 3 {
		year = parts[2].n
		switch len(parts[2].s) {
		case 2:
			year += 2000
		case 4:
		default:
			return none(1)
		}
		if year < 1970 || year > 2199 {
			return none(1)
		}
		explicit = true
	} else if !deadlineWord(p.prev(i)) || p.prev(i) == "in" || p.prev(i) == "within" {
		// A bare 3/4 is as likely a fraction or a score.
		return none(1)
	}
	if len(parts[0].s) > 2 || len(parts[1].s) > 2 {
		return none(1)
	}
	dmy := recall.Date{Year: year, Month: time.Month(b), Day: a}
	mdy := recall.Date{Year: year, Month: time.Month(a), Day: b}
	okDMY := validDayMonth(a, b)
	okMDY := validDayMonth(b, a)
	var day, month int
	switch {
	case p.order == DMY && okDMY, p.order == OrderUnknown && okDMY && (!okMDY || a == b):
		day, month = dmy.Day, int(dmy.Month)
	case p.order == MDY && okMDY, p.order == OrderUnknown && okMDY && !okDMY:
		day, month = mdy.Day, int(mdy.Month)
	default:
		return none(1)
	}
	if explicit {
		d := recall.Date{Year: year, Month: time.Month(month), Day: day}
		return p.beforeDay(i, match{d: d, ok: d.Valid(), explicit: true}, 1)
	}
	m, _ := p.withYear(len(p.toks), day, time.Month(month))
	return p.beforeDay(i, m, 1)
}

// validDayMonth reports whether day d of month m exists in some year.
func validDayMonth(d, m int) bool {
	return m >= 1 && m <= 12 && d >= 1 && d <= endOfMonth(2000, time.Month(m)).Day
}

// quarter reads "Q3" (as a deadline or with a year) and "H1".
func (p *parser) quarter(i int, q quarterSpec) (match, int) {
	if p.negated(i) {
		return none(1)
	}
	prev := p.prev(i)
	y, hasYear := yearAt(p.toks, i+1)
	if !hasYear && !(deadlineWord(prev) && prev != "on" || prev == "of" && (p.word(i-2) == "end" || p.word(i-3) == "end")) {
		return none(1)
	}
	n := 1
	if hasYear {
		n = 2
	}
	start := func(year int) recall.Date { return recall.Date{Year: year, Month: q.first, Day: 1} }
	end := func(year int) recall.Date { return endOfMonth(year, q.last) }
	if hasYear {
		d := end(y)
		if p.before(i) {
			d = start(y).AddDays(-1)
		}
		return match{d: d, ok: true, explicit: true}, n
	}
	if !p.hasRef {
		return none(n)
	}
	y = p.today.Year
	if p.before(i) {
		s := start(y)
		if s.Compare(p.today) <= 0 {
			s = start(y + 1)
		}
		return match{d: s.AddDays(-1), ok: true}, n
	}
	d := end(y)
	if d.Compare(p.today) < 0 {
		d = end(y + 1)
	}
	return match{d: d, ok: true}, n
}

// endOf reads "end of day", "end of (the|this|next) week/month/quarter/
// year", "end of March", "end of Q2", "close of business".
func (p *parser) endOf(i int) (match, int) {
	if p.word(i+1) != "of" {
		return none(0)
	}
	j := i + 2
	ahead := 0
	switch p.word(j) {
	case "the", "this":
		j++
	case "next":
		ahead = 1
		j++
	}
	switch w := p.word(j); w {
	case "day", "business", "play":
		if p.word(i) == "close" && w != "business" {
			return none(0)
		}
		if p.word(i-1) == "at" || (p.word(i-1) == "the" && p.word(i-2) == "at") {
			// "at the end of the day" is an idiom, not a deadline.
			return none(j + 1 - i)
		}
		if ahead > 0 {
			return p.day(p.today.AddDays(1), j+1-i)
		}
		return p.weakToday(j + 1 - i)
	case "week", "month", "quarter", "year", "sprint":
		if w == "sprint" {
			return none(j + 1 - i)
		}
		return p.periodEnd(j, w, ahead, j+1-i)
	}
	// "end of March", "end of Q2": read the month or quarter itself, whose
	// bare end is what "end of" means.
	return none(j - i)
}

// periodEnd is the end of this (ahead 0) or the next (ahead 1) week, month,
// quarter or year.
func (p *parser) periodEnd(i int, unit string, ahead, n int) (match, int) {
	switch unit {
	case "week":
		if ahead > 0 {
			return p.day(p.weekStart().AddDays(7+4), n)
		}
		return p.day(p.endOfWeek(), n)
	case "month":
		m := int(p.today.Month) + ahead
		y := p.today.Year
		if m > 12 {
			m, y = m-12, y+1
		}
		return p.day(endOfMonth(y, time.Month(m)), n)
	case "quarter":
		return p.day(p.quarterEnd(ahead), n)
	case "year":
		return p.day(recall.Date{Year: p.today.Year + ahead, Month: time.December, Day: 31}, n)
	}
	return none(0)
}

// relative reads "this week", "next week", "next month", "next quarter",
// "later this week", "early next week", "start of next week", "this
// weekend", "this afternoon".
func (p *parser) relative(i int) (match, int) {
	w := p.word(i)
	switch w {
	case "later":
		if p.word(i+1) == "today" {
			return p.day(p.today, 2)
		}
		if p.word(i+1) == "this" && p.word(i+2) == "week" {
			return p.day(p.endOfWeek(), 3)
		}
		return none(0)
	case "early":
		if p.word(i+1) == "next" && p.word(i+2) == "week" {
			return p.day(p.weekStart().AddDays(7), 3)
		}
		if p.word(i+1) == "this" && p.word(i+2) == "week" {
			return none(3)
		}
		return none(0)
	case "start", "beginning":
		if p.word(i+1) == "of" && p.word(i+2) == "next" && p.word(i+3) == "week" {
			return p.day(p.weekStart().AddDays(7), 4)
		}
		return none(0)
	}
	if p.negated(i) {
		return none(0)
	}
	ahead := 0
	if w == "next" {
		ahead = 1
	}
	switch p.word(i + 1) {
	case "week":
		if p.word(i+2) == "after" && p.word(i+3) == "next" {
			return none(0)
		}
		return p.periodEnd(i+1, "week", ahead, 2)
	case "month", "quarter", "year":
		return p.periodEnd(i+1, p.word(i+1), ahead, 2)
	case "weekend":
		return p.weekend(i + 1)
	case "morning", "afternoon", "evening":
		if ahead == 0 {
			return p.weakToday(2)
		}
	}
	return none(0)
}

// weekend reads "this weekend", "over the weekend", "by the weekend",
// "next weekend" with i at "weekend".
func (p *parser) weekend(i int) (match, int) {
	sunday := p.weekStart().AddDays(6)
	switch p.prev(i) {
	case "next":
		return p.day(sunday.AddDays(7), 1)
	case "last", "past", "previous", "since", "after", "every":
		return none(1)
	case "by", "before", "until", "till":
		return p.day(p.endOfWeek(), 1)
	}
	return p.day(sunday, 1)
}

// in reads "in 3 days", "within the next two weeks", "in a month", "in 2
// weeks' time", "in 30 min", with i at "in" or "within".
func (p *parser) in(i int) (match, int) {
	j := i + 1
	if p.word(j) == "the" {
		j++
	}
	if p.word(j) == "next" {
		j++
	}
	n, k, ok := p.amount(j)
	if !ok {
		return none(0)
	}
	return p.add(n, k, k+1-i)
}

// amount reads a count at j ("3", "two", "a", "a couple of") and returns it
// and the index of the unit word after it.
func (p *parser) amount(j int) (n, unit int, ok bool) {
	w := p.word(j)
	if j < len(p.toks) && !p.toks[j].numeric && p.toks[j].num >= 0 && len(w) <= 5 {
		n = p.toks[j].num
	} else if v, found := numberWords[w]; found {
		n = v
	} else {
		return 0, 0, false
	}
	j++
	if (w == "a" || w == "an") && p.word(j) == "couple" {
		j++
		n = 2
	}
	if p.word(j) == "couple" && w == "couple" {
		j++
	}
	if p.word(j) == "of" && (w == "couple" || p.word(j-1) == "couple") {
		j++
	}
	if p.word(j) == "business" || p.word(j) == "working" {
		if unitOf(p.word(j+1)) == "day" {
			return n, j + 1, true
		}
		return 0, 0, false
	}
	if unitOf(p.word(j)) == "" {
		return 0, 0, false
	}
	return n, j, true
}

// add counts n units (the unit word at k) from the reference.
func (p *parser) add(n, k, taken int) (match, int) {
	if !p.hasRef || n < 0 {
		return none(taken)
	}
	business := p.word(k-1) == "business" || p.word(k-1) == "working"
	switch unitOf(p.word(k)) {
	case "day":
		if n > maxDays {
			return none(taken)
		}
		if business {
			return p.day(addBusinessDays(p.today, n), taken)
		}
		return p.day(p.today.AddDays(n), taken)
	case "week":
		if n > maxWeeks {
			return none(taken)
		}
		return p.day(p.today.AddDays(7*n), taken)
	case "fortnight":
		if n > maxWeeks/2 {
			return none(taken)
		}
		return p.day(p.today.AddDays(14*n), taken)
	case "month":
		if n > maxMonths {
			return none(taken)
		}
		return p.day(addMonths(p.today, n), taken)
	case "hour":
		if n > maxHours {
			return none(taken)
		}
		m, t := p.day(recall.DateOf(p.ref.Add(time.Duration(n)*time.Hour)), taken)
		m.weak = true
		return m, t
	case "minute":
		if n > maxMins {
			return none(taken)
		}
		m, t := p.day(recall.DateOf(p.ref.Add(time.Duration(n)*time.Minute)), taken)
		m.weak = true
		return m, t
	}
	return none(taken)
}

// fromNow reports the length of "two weeks from now" starting at i, or 0.
func (p *parser) fromNow(i int) int {
	if p.word(i-1) == "in" || p.word(i-1) == "within" {
		return 0
	}
	_, k, ok := p.amount(i)
	if !ok || p.word(k+1) != "from" || (p.word(k+2) != "now" && p.word(k+2) != "today") {
		return 0
	}
	return k + 3 - i
}

func (p *parser) fromNowMatch(i int) (match, int) {
	n, k, _ := p.amount(i)
	m, _ := p.add(n, k, 0)
	return m, k + 3 - i
}

func addBusinessDays(d recall.Date, n int) recall.Date {
	for n > 0 {
		d = d.AddDays(1)
		if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday {
			n--
		}
	}
	return d
}

// addMonths moves d n months ahead, keeping the day of the month where it
// exists and taking the month's last day where it does not (31 January +
// 1 month is the end of February, not 3 March).
func addMonths(d recall.Date, n int) recall.Date {
	m := int(d.Month) - 1 + n
	y := d.Year + m/12
	month := time.Month(m%12 + 1)
	last := endOfMonth(y, month)
	if d.Day > last.Day {
		return last
	}
	return recall.Date{Year: y, Month: month, Day: d.Day}
}
