package duedate

import (
	"testing"
	"time"

	"recall/internal/recall"
)

// Reference times the tables resolve against.
var (
	tue     = time.Date(2026, time.March, 10, 10, 0, 0, 0, time.UTC)    // a Tuesday
	fri     = time.Date(2026, time.March, 13, 16, 0, 0, 0, time.UTC)    // a Friday
	sat     = time.Date(2026, time.March, 14, 9, 0, 0, 0, time.UTC)     // a Saturday
	nye     = time.Date(2026, time.December, 31, 15, 0, 0, 0, time.UTC) // a Thursday
	leap    = time.Date(2028, time.February, 28, 9, 0, 0, 0, time.UTC)  // a Monday, in a leap year
	feb27   = time.Date(2027, time.February, 26, 9, 0, 0, 0, time.UTC)  // a Friday, not a leap year
	jan31   = time.Date(2026, time.January, 31, 12, 0, 0, 0, time.UTC)  // a Saturday
	march31 = time.Date(2026, time.March, 31, 12, 0, 0, 0, time.UTC)    // last day of Q1, a Tuesday
)

func TestFind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ref  time.Time
		text string
		want string // "" for no date
		opts Options
	}{
		// Days named relative to today.
		{"today", tue, "I'll send it today", "2026-03-10", Options{}},
		{"tonight", tue, "Deploy tonight", "2026-03-10", Options{}},
		{"tomorrow", tue, "Alice will send the deck tomorrow.", "2026-03-11", Options{}},
		{"tomorrow typo", tue, "will do it tmrw", "2026-03-11", Options{}},
		{"day after tomorrow", tue, "by the day after tomorrow", "2026-03-12", Options{}},
		{"eod", tue, "Send the numbers EOD", "2026-03-10", Options{}},
		{"end of day", tue, "by end of day", "2026-03-10", Options{}},
		{"cob", tue, "by COB please", "2026-03-10", Options{}},
		{"eod then a day wins", tue, "EOD tomorrow", "2026-03-11", Options{}},
		{"day then eod", tue, "by Friday EOD", "2026-03-13", Options{}},
		{"end of day tomorrow", tue, "by end of day tomorrow", "2026-03-11", Options{}},
		{"idiom is no deadline", tue, "At the end of the day we need to ship it", "", Options{}},
		{"in 30 minutes", tue, "close the incident in 30 min", "2026-03-10", Options{}},
		{"in 3 hours late at night", time.Date(2026, 3, 10, 22, 0, 0, 0, time.UTC), "in 3 hours", "2026-03-11", Options{}},
		{"this afternoon", tue, "I'll pair with Priya this afternoon", "2026-03-10", Options{}},
		{"by lunch", tue, "I can do that, will update it by lunch", "2026-03-10", Options{}},
		{"lunch then a day wins", tue, "by lunch tomorrow", "2026-03-11", Options{}},
		{"lunch is no date on its own", tue, "we had lunch with the vendor", "", Options{}},
		{"overnight", tue, "keep an eye on it overnight", "2026-03-10", Options{}},
		{"the overnight batch", tue, "the overnight batch failed again", "", Options{}},
		{"a start is no deadline", tue, "I can start next week", "", Options{}},
		{"begin is no deadline", tue, "we begin Monday", "", Options{}},

		// Weekdays.
		{"by friday", tue, "I'll send the deck by Friday", "2026-03-13", Options{}},
		{"on monday", tue, "Let's review on Monday", "2026-03-16", Options{}},
		{"bare weekday", tue, "send it Thursday", "2026-03-12", Options{}},
		{"lower case", tue, "by wednesday", "2026-03-11", Options{}},
		{"abbreviation", tue, "by Fri", "2026-03-13", Options{}},
		{"abbreviation after by", tue, "by thu", "2026-03-12", Options{}},
		{"sat only capitalised and cued", tue, "we sat down and talked", "", Options{}},
		{"Sat cued", tue, "by Sat", "2026-03-14", Options{}},
		{"the day itself is today", tue, "by Tuesday", "2026-03-10", Options{}},
		{"this friday", tue, "this Friday", "2026-03-13", Options{}},
		{"next friday is next week's", tue, "next Friday", "2026-03-20", Options{}},
		{"next tuesday said on tuesday", tue, "next Tuesday", "2026-03-17", Options{}},
		{"friday next week", tue, "Friday next week", "2026-03-20", Options{}},
		{"possessive", tue, "Let's review the postmortem at Thursday's ops sync", "2026-03-12", Options{}},
		{"weekday with a date", tue, "Next sync: Monday 16 March", "2026-03-16", Options{}},
		{"abbreviated weekday with a date", tue, "due Fri, Mar 20", "2026-03-20", Options{}},
		{"weekday with a day of the month", tue, "pick 2 clips by Wed 24th", "2026-03-24", Options{}},
		{"weekday with a passed day of the month", tue, "by Mon 2nd", "2026-04-02", Options{}},
		{"weekday with an hour is the weekday", tue, "Friday 10 am", "2026-03-13", Options{}},
		{"before a weekday", tue, "review the runbook before Thursday", "2026-03-11", Options{}},
		{"before today's weekday", tue, "before Tuesday", "2026-03-10", Options{}},
		{"before an event on a date", tue, "comments in the doc before the council meeting on 19 March", "2026-03-18", Options{}},
		{"before an event that starts on a date", tue, "clear the cupboard before the strip-out starts on 22 March", "2026-03-21", Options{}},
		{"before an event on a weekday", tue, "before the review on Friday", "2026-03-12", Options{}},
		{"before lunch on a day is that day", tue, "send it before lunch on Friday", "2026-03-13", Options{}},
		{"on a date after a pause", tue, "before we start, the review is on Friday", "2026-03-13", Options{}},
		{"last friday", tue, "as we said last Friday", "", Options{}},
		{"since monday", tue, "broken since Monday", "", Options{}},
		{"every friday", tue, "deploys every Friday", "", Options{}},
		{"plural weekday", tue, "we ship on Mondays", "", Options{}},
		{"a kind of day", tue, "propose a no-meeting Wednesday to the leads", "", Options{}},
		{"an article before a preposition", tue, "send a draft by Wednesday", "2026-03-11", Options{}},
		{"from monday's meeting", tue, "the notes from Monday's meeting", "", Options{}},
		{"by friday said on friday is today", fri, "by Friday", "2026-03-13", Options{}},
		{"next friday said on friday", fri, "next Friday", "2026-03-20", Options{}},
		{"monday said on friday", fri, "on Monday", "2026-03-16", Options{}},
		{"friday said on saturday", sat, "by Friday", "2026-03-20", Options{}},
		{"next friday said on saturday", sat, "next Friday", "2026-03-20", Options{}},
		{"next monday said on saturday", sat, "next Monday", "2026-03-16", Options{}},

		// Weeks, months, quarters, years.
		{"end of week", tue, "by end of week", "2026-03-13", Options{}},
		{"eow", tue, "EOW", "2026-03-13", Options{}},
		{"this week", tue, "sometime this week", "2026-03-13", Options{}},
		{"later this week", tue, "later this week", "2026-03-13", Options{}},
		{"eow said on friday", fri, "EOW", "2026-03-13", Options{}},
		{"eow said on saturday", sat, "end of the week", "2026-03-20", Options{}},
		{"next week", tue, "I'll get to it next week", "2026-03-20", Options{}},
		{"end of next week", tue, "by the end of next week", "2026-03-20", Options{}},
		{"early next week", tue, "early next week", "2026-03-16", Options{}},
		{"start of next week", tue, "by the start of next week", "2026-03-16", Options{}},
		{"next week said on saturday", sat, "next week", "2026-03-20", Options{}},
		{"week after next", tue, "the week after next", "2026-03-27", Options{}},
		{"this weekend", tue, "over the weekend", "2026-03-15", Options{}},
		{"by the weekend", tue, "by the weekend", "2026-03-13", Options{}},
		{"next weekend", tue, "next weekend", "2026-03-22", Options{}},
		{"end of month", tue, "by end of month", "2026-03-31", Options{}},
		{"eom", tue, "EOM", "2026-03-31", Options{}},
		{"month end", tue, "before the month-end close", "2026-03-31", Options{}},
		{"next month", tue, "next month", "2026-04-30", Options{}},
		{"end of next month", tue, "end of next month", "2026-04-30", Options{}},
		{"by q1", tue, "by Q1", "2026-03-31", Options{}},
		{"in q3", tue, "ship it in Q3", "2026-09-30", Options{}},
		{"end of q2", tue, "by the end of Q2", "2026-06-30", Options{}},
		{"q1 passed", time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), "by Q1", "2027-03-31", Options{}},
		{"q1 on its last day", march31, "by Q1", "2026-03-31", Options{}},
		{"q with a year", tue, "Q1 2027", "2027-03-31", Options{}},
		{"before q2", tue, "before Q2", "2026-03-31", Options{}},
		{"h2", tue, "by H2", "2026-12-31", Options{}},
		{"this quarter", tue, "this quarter", "2026-03-31", Options{}},
		{"next quarter", tue, "next quarter", "2026-06-30", Options{}},
		{"q as a label", tue, "send the Q3 budget draft", "", Options{}},
		{"eoy", tue, "by EOY", "2026-12-31", Options{}},
		{"end of the year", tue, "end of the year", "2026-12-31", Options{}},

		// Dates.
		{"day month", tue, "by 12 March", "2026-03-12", Options{}},
		{"month day ordinal", tue, "March 12th", "2026-03-12", Options{}},
		{"ordinal of month", tue, "the 12th of March", "2026-03-12", Options{}},
		{"abbreviated month", tue, "Mar 12", "2026-03-12", Options{}},
		{"lower case month with a day", tue, "by march 12", "2026-03-12", Options{}},
		{"passed this year", tue, "by 9 March", "2027-03-09", Options{}},
		{"with a year", tue, "by 12 March 2027", "2027-03-12", Options{}},
		{"month day comma year", tue, "March 12, 2027", "2027-03-12", Options{}},
		{"with a past year", tue, "by 12 March 2025", "2025-03-12", Options{}},
		{"iso", tue, "due 2026-12-11", "2026-12-11", Options{}},
		{"iso with slashes", tue, "2026/12/11", "2026-12-11", Options{}},
		{"iso in the past", tue, "was due 2025-12-11", "2025-12-11", Options{}},
		{"iso not a date", tue, "2026-02-30", "", Options{}},
		{"before a date", tue, "before 15 March", "2026-03-14", Options{}},
		{"by the 15th", tue, "by the 15th", "2026-03-15", Options{}},
		{"by the 5th is next month", tue, "by the 5th", "2026-04-05", Options{}},
		{"by the 31st skips april", time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC), "by the 31st", "2026-05-31", Options{}},
		{"ordinal without a cue", tue, "the 3rd attempt failed", "", Options{}},
		{"by march", tue, "by March", "2026-03-31", Options{}},
		{"end of april", tue, "by the end of April", "2026-04-30", Options{}},
		{"in may", tue, "in May", "2026-05-31", Options{}},
		{"may the verb", tue, "I may send it", "", Options{}},
		{"march the label", tue, "the March numbers", "", Options{}},
		{"before march", tue, "before March", "2027-02-28", Options{}},
		{"before april", tue, "before April", "2026-03-31", Options{}},
		{"a past month is next year's", tue, "by February", "2027-02-28", Options{}},

		// Numeric dates.
		{"ambiguous without an order", tue, "by 12/03", "", Options{}},
		{"dmy", tue, "by 12/03", "2026-03-12", Options{Order: DMY}},
		{"mdy", tue, "by 12/03", "2026-12-03", Options{Order: MDY}},
		{"dmy with a year", tue, "12/03/2027", "2027-03-12", Options{Order: DMY}},
		{"dotted dmy", tue, "12.03.2027", "2027-03-12", Options{Order: DMY}},
		{"two-digit year", tue, "on 12/03/27", "2027-12-03", Options{Order: MDY}},
		{"ambiguous with a year", tue, "12/03/2027", "", Options{}},
		{"only one reading", tue, "by 3/14", "2026-03-14", Options{}},
		{"only one reading dmy-style", tue, "due 14/3", "2026-03-14", Options{}},
		{"both readings agree", tue, "by 5/5", "2026-05-05", Options{}},
		{"impossible in the configured order", tue, "by 3/14", "", Options{Order: DMY}},
		{"a fraction", tue, "3/4 of the tests pass", "", Options{}},
		{"a score", tue, "we won 3/1", "", Options{}},
		{"a version", tue, "upgrade to 1.2.3", "", Options{Order: DMY}},

		// Counting ahead.
		{"in 2 weeks", tue, "in 2 weeks", "2026-03-24", Options{}},
		{"in 3 days", tue, "in 3 days", "2026-03-13", Options{}},
		{"in two weeks", tue, "in two weeks' time", "2026-03-24", Options{}},
		{"within a week", tue, "within a week", "2026-03-17", Options{}},
		{"within the next 10 days", tue, "within the next 10 days", "2026-03-20", Options{}},
		{"in a couple of days", tue, "in a couple of days", "2026-03-12", Options{}},
		{"in a month from the 31st", jan31, "in a month", "2026-02-28", Options{}},
		{"in 5 business days", tue, "in 5 business days", "2026-03-17", Options{}},
		{"in a fortnight", tue, "in a fortnight", "2026-03-24", Options{}},
		{"weeks from now", tue, "two weeks from now", "2026-03-24", Options{}},
		{"days from now", tue, "3 days from now", "2026-03-13", Options{}},
		{"too far", tue, "in 999999 weeks", "", Options{}},
		{"in a meeting", tue, "I'm in a meeting", "", Options{}},

		// Month and year boundaries, leap years.
		{"tomorrow on new year's eve", nye, "tomorrow", "2027-01-01", Options{}},
		{"next week across the new year", nye, "next week", "2027-01-08", Options{}},
		{"friday across the new year", nye, "by Friday", "2027-01-01", Options{}},
		{"eom on the last day", nye, "EOM", "2026-12-31", Options{}},
		{"next month across the new year", nye, "next month", "2027-01-31", Options{}},
		{"q1 from december", nye, "by Q1", "2027-03-31", Options{}},
		{"q4 on its last day", nye, "in Q4", "2026-12-31", Options{}},
		{"in 3 days across the new year", nye, "in 3 days", "2027-01-03", Options{}},
		{"next year", nye, "next year", "2027-12-31", Options{}},
		{"march from december", nye, "by 12 March", "2027-03-12", Options{}},
		{"tomorrow is the 29th", leap, "tomorrow", "2028-02-29", Options{}},
		{"29 february in a leap year", leap, "by 29 Feb", "2028-02-29", Options{}},
		{"eom in a leap february", leap, "end of month", "2028-02-29", Options{}},
		{"29 february from a common year", tue, "by 29 February", "2028-02-29", Options{}},
		{"eom in a common february", feb27, "EOM", "2027-02-28", Options{}},
		{"next week at month end", feb27, "next week", "2027-03-05", Options{}},

		// The day is the configured location's.
		{"berlin is a day ahead", time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC), "today", "2027-01-01", Options{Location: time.FixedZone("CET", 3600)}},
		{"berlin tomorrow", time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC), "tomorrow", "2027-01-02", Options{Location: time.FixedZone("CET", 3600)}},
		{"new york is a day behind", time.Date(2027, 1, 1, 3, 0, 0, 0, time.UTC), "by Friday", "2027-01-01", Options{Location: time.FixedZone("EST", -5*3600)}},
		{"new york today", time.Date(2027, 1, 1, 3, 0, 0, 0, time.UTC), "EOD", "2026-12-31", Options{Location: time.FixedZone("EST", -5*3600)}},

		// Nothing invented.
		{"no date", tue, "Alice will send the deck", "", Options{}},
		{"asap", tue, "ASAP", "", Options{}},
		{"soon", tue, "soon, later, eventually", "", Options{}},
		{"empty", tue, "", "", Options{}},
		{"a number", tue, "we have 12 open tickets", "", Options{}},
		{"a time", tue, "at 10:30", "", Options{}},
		{"yesterday", tue, "yesterday", "", Options{}},
		{"a year alone", tue, "the 2027 roadmap", "", Options{}},

		// No reference time: only dates that spell out their year.
		{"no reference, weekday", time.Time{}, "by Friday", "", Options{}},
		{"no reference, date", time.Time{}, "by 12 March", "", Options{}},
		{"no reference, iso", time.Time{}, "due 2026-12-11", "2026-12-11", Options{}},
		{"no reference, with a year", time.Time{}, "12 March 2027", "2027-03-12", Options{}},
		{"no reference, quarter with a year", time.Time{}, "by Q2 2027", "2027-06-30", Options{}},

		// The first phrase that names a day wins.
		{"first day wins", tue, "the draft on Monday and the final by Friday", "2026-03-16", Options{}},
		{"label first", tue, "Today: review by Friday", "2026-03-10", Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := Find(tt.text, tt.ref, tt.opts)
			gotS := ""
			if ok {
				gotS = got.String()
			}
			if gotS != tt.want {
				t.Errorf("Find(%q) at %s = %q, want %q", tt.text, tt.ref.Format("Mon 2006-01-02"), gotS, tt.want)
			}
		})
	}
}

// TestFindPhrase checks where FindPhrase says the phrase is and what
// introduces it: the words a task can be shown without, and the cue that
// tells a deadline ("by") from a parameter ("for").
func TestFindPhrase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text, phrase, cue string
	}{
		{"I'll send the deck by Friday.", "by Friday", "by"},
		{"Fix the numbers tonight", "tonight", ""},
		{"Put the renewal together by the end of July so finance can approve it", "by the end of July", "by"},
		{"return the signed copy no later than 15 June 2026, so that", "no later than 15 June 2026", "no later than"},
		{"schedule the episode for Thu 25 June, 6am", "for Thu 25 June", "for"},
		{"update the forecast by end of next week at the latest", "by end of next week at the latest", "by"},
		{"rough cut by Monday", "by Monday", "by"},
		{"ship it before the 15th", "before the 15th", "before"},
		{"merge it on 2026-12-11", "on 2026-12-11", "on"},
		{"the doc, within 2 weeks", "within 2 weeks", "within"},
		{"post the accruals by EOD tomorrow", "by EOD tomorrow", "by"},
		{"do the transfer tomorrow morning", "tomorrow morning", ""},
		{"move the review to Friday", "to Friday", "to"},
		{"tell Kai by next Wednesday", "by next Wednesday", "by"},
		{"send it this Friday", "this Friday", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			t.Parallel()
			p, ok := FindPhrase(tt.text, tue, Options{})
			if !ok {
				t.Fatalf("FindPhrase(%q) found nothing", tt.text)
			}
			if got := tt.text[p.Start:p.End]; got != tt.phrase || p.Cue != tt.cue {
				t.Errorf("FindPhrase(%q) = %q cue %q, want %q cue %q", tt.text, got, p.Cue, tt.phrase, tt.cue)
			}
			if d, _ := Find(tt.text, tue, Options{}); d != p.Date {
				t.Errorf("FindPhrase date %v, Find %v", p.Date, d)
			}
		})
	}
}

func TestParseOrder(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Order{"": OrderUnknown, "DMY": DMY, " mdy ": MDY} {
		if got, err := ParseOrder(in); err != nil || got != want {
			t.Errorf("ParseOrder(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseOrder("ymd"); err == nil {
		t.Error("ParseOrder accepted ymd")
	}
	for _, o := range []Order{OrderUnknown, DMY, MDY} {
		if back, _ := ParseOrder(o.String()); back != o {
			t.Errorf("%v does not round-trip", o)
		}
	}
}

func TestFindDoesNotReadPastTheBound(t *testing.T) {
	t.Parallel()
	// A date phrase after maxTokens words is not read: the bound holds.
	long := make([]byte, 0, 2*maxTokens+20)
	for range maxTokens {
		long = append(long, "x "...)
	}
	long = append(long, "tomorrow"...)
	if d, ok := Find(string(long), tue, Options{}); ok {
		t.Errorf("read %v beyond %d words", d, maxTokens)
	}
}

// today is the reference day of ref in o's location.
func today(ref time.Time, o Options) recall.Date {
	if o.Location == nil {
		return recall.DateOf(ref.UTC())
	}
	return recall.DateOf(ref.In(o.Location))
}
