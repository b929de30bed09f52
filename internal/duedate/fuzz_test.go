package duedate

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzFind feeds arbitrary text, reference times, time zones and date
// orders to Find and checks the invariant in the package doc: a date or
// none, never a panic; a date is valid and lies between the reference day
// and ten years and a month after it, unless the text spells out the date's
// year; with no reference time only a spelled-out year gives a date; and
// the same input gives the same answer; FindPhrase agrees with Find and
// its span lies inside the text.
func FuzzFind(f *testing.F) {
	for _, s := range []string{
		"I'll send the deck by Friday",
		"EOD tomorrow", "next week", "by 12 March", "March 12th", "the 12th of March",
		"2026-12-11", "in 2 weeks", "by Q1", "end of month", "12/03", "by 3/14", "12.03.2027",
		"before Thursday", "last Friday", "the day after tomorrow", "within the next 10 days",
		"by 29 February", "in 999999999 weeks", "by the 31st", "Q4 2199", "12/31/1969",
		"Fri, Mar 20", "next weekend", "a couple of days", "", "'s's'", "-/./-", "1/2/3/4",
	} {
		f.Add(s, int64(1773136800), int16(0), uint8(0))
	}
	f.Add("tomorrow", int64(1798761600), int16(60), uint8(1))
	f.Add("by 12/03", int64(0), int16(-300), uint8(2))
	f.Fuzz(func(t *testing.T, text string, secs int64, offsetMin int16, order uint8) {
		// References from 1970 to about 2100, and sometimes none at all.
		var ref time.Time
		if secs%97 != 0 {
			ref = time.Unix((secs%(130*366*86400)+130*366*86400)%(130*366*86400), 0)
		}
		o := Options{Location: time.FixedZone("fuzz", int(offsetMin%(18*60))*60), Order: Order(order % 3)}
		d, ok := Find(text, ref, o)
		again, ok2 := Find(text, ref, o)
		if d != again || ok != ok2 {
			t.Fatalf("Find(%q) gave %v %v, then %v %v", text, d, ok, again, ok2)
		}
		if p, pok := FindPhrase(text, ref, o); pok != ok || p.Date != d || ok && (p.Start < 0 || p.Start >= p.End || p.End > len(text)) {
			t.Fatalf("FindPhrase(%q) = %+v %v, Find = %v %v", text, p, pok, d, ok)
		}
		if !ok {
			return
		}
		if !d.Valid() {
			t.Fatalf("Find(%q) = invalid date %+v", text, d)
		}
		spelled := strings.Contains(text, fmt.Sprintf("%04d", d.Year)) || strings.Contains(text, fmt.Sprintf("%02d", d.Year%100))
		if spelled {
			return
		}
		if ref.IsZero() {
			t.Fatalf("Find(%q) with no reference = %v, a year the text does not spell out", text, d)
		}
		day := today(ref, o)
		if d.Compare(day) < 0 {
			t.Fatalf("Find(%q) at %v = %v, before the reference day %v", text, ref, d, day)
		}
		if d.Compare(day.AddDays(maxDays+31)) > 0 {
			t.Fatalf("Find(%q) at %v = %v, more than ten years ahead", text, ref, d)
		}
	})
}
