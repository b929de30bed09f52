package extract

import (
	"strings"
	"time"

	"recall/internal/duedate"
	"recall/internal/recall"
)

// Due dates a person reads from the rest of the conversation when the
// task's own sentence names none: "before then" after a sentence with a
// date, "before the next review" with "Next review: 4 May" further down,
// and "tag it" after "Release: 0.15.1 planned for Friday".

// contextDue dates the items whose own words gave no date from the
// sentences around them.
func (d *document) contextDue(found []actionItem, built []builtItem, ref time.Time, dates duedate.Options) {
	if ref.IsZero() {
		return
	}
	var anchors map[string]anchor // built on first use
	for i := range found {
		c, b := &found[i], &built[i]
		if b.drop || b.due != nil {
			continue
		}
		t := d.sents[c.pos].toks
		if k, before := refersToThen(t); k >= 0 {
			if p, ok := d.previousDate(c.pos, ref, dates); ok {
				b.due = dayBefore(p.Date, before, ref, dates)
			}
			continue
		}
		if k, before := eventCue(t); k >= 0 {
			if anchors == nil {
				anchors = d.eventDates(ref, dates)
			}
			if a, ok := anchors[eventKey(t, k)]; ok && a.unique {
				b.due = dayBefore(a.date, before, ref, dates)
				continue
			}
		}
		if b.context > 0 {
			// "Release: 0.15.1 planned for Friday. @tobias please tag it
			// once #4521 is merged": the task is tied to what it points at.
			if p, ok := duedate.FindPhrase(d.sents[b.context-1].text, ref, dates); ok && !isParameter(p, nil) {
				b.due = &p.Date
			}
		}
	}
}

// dayBefore returns d, or for "before" the day before d but not before the
// reference day.
func dayBefore(d recall.Date, before bool, ref time.Time, dates duedate.Options) *recall.Date {
	if before {
		loc := dates.Location
		if loc == nil {
			loc = time.UTC
		}
		today := recall.DateOf(ref.In(loc))
		if d = d.AddDays(-1); d.Compare(today) < 0 {
			d = today
		}
	}
	return &d
}

// refersToThen finds "by then" or "before then" in t and returns where
// "then" is and whether it said "before"; -1 when none. "Until then" says
// how long something lasts, not when it is due.
func refersToThen(t []token) (int, bool) {
	for k := 1; k < len(t); k++ {
		if t[k].norm != "then" {
			continue
		}
		switch t[k-1].norm {
		case "before":
			return k, true
		case "by":
			return k, false
		}
	}
	return -1, false
}

// previousDate finds the date of an earlier sentence of si's line.
func (d *document) previousDate(si int, ref time.Time, dates duedate.Options) (duedate.Phrase, bool) {
	for k := si - 1; k >= 0 && d.sents[k].unit == d.sents[si].unit; k-- {
		if p, ok := duedate.FindPhrase(d.sents[k].text, ref, dates); ok {
			return p, true
		}
	}
	return duedate.Phrase{}, false
}

// eventNouns name the events a conversation dates and tasks are due
// before: "the next review", "the 0.15.1 patch release".
var eventNouns = wordSet(`meeting mtg review sync call standup demo release launch deploy deployment presentation preview workshop session
offsite retro planning party shoot trip fair event conference interview audit kickoff agm close cutover hearing appointment visit handover
go/no-go go-live golive rollout webinar`)

// eventCue finds "before/by/until/ahead of [the] [next] … <event>" in t:
// where the event noun is, up to four words on, and whether it said
// "before"; -1 when none.
func eventCue(t []token) (int, bool) {
	for i := 0; i+1 < len(t); i++ {
		before := false
		switch t[i].norm {
		case "before":
			before = true
		case "by", "until", "till", "for", "at":
		case "ahead":
			before = i+1 < len(t) && t[i+1].norm == "of"
			if !before {
				continue
			}
			i++
		default:
			continue
		}
		for k := i + 1; k < len(t) && k <= i+5; k++ {
			if t[k].brk {
				break
			}
			if has(eventNouns, t[k].norm) || has(eventNouns, t[k].stem) {
				return k, before
			}
		}
	}
	return -1, false
}

// eventKey names the event at t[k] for eventDates: its noun, stemmed.
func eventKey(t []token, k int) string {
	return t[k].stem
}

// anchor is the date the conversation gives an event, and whether it
// gives that event only one.
type anchor struct {
	date   recall.Date
	unique bool
}

// eventDates reads the dates the conversation gives its events: "Next
// review: 4 May", "Release: 0.15.1 planned for Friday", "The AGM will be
// held on 20 June", "the council meeting on 9 June".
func (d *document) eventDates(ref time.Time, dates duedate.Options) map[string]anchor {
	out := map[string]anchor{}
	for si := range d.sents {
		s := &d.sents[si]
		k := -1 // the last event noun of the sentence before its date
		for i, tk := range s.toks {
			if has(eventNouns, tk.norm) || has(eventNouns, tk.stem) {
				k = i
			}
		}
		if k < 0 || !mentionsDate(s.toks[k+1:]) {
			continue
		}
		p, ok := duedate.FindPhrase(s.text, ref, dates)
		if !ok || p.Cue == "before" || p.Cue == "by" || p.Cue == "until" {
			continue // "send it before the review on 4 May" dates the task, not the review
		}
		key := s.toks[k].stem
		if a, seen := out[key]; seen {
			out[key] = anchor{date: a.date, unique: a.unique && a.date == p.Date}
			continue
		}
		out[key] = anchor{date: p.Date, unique: true}
	}
	return out
}

// mentionsDate reports whether toks may hold a date: a digit or a word a
// date phrase needs.
func mentionsDate(toks []token) bool {
	for _, t := range toks {
		if has(dateWords, t.norm) || strings.ContainsAny(t.norm, "0123456789") {
			return true
		}
	}
	return false
}
