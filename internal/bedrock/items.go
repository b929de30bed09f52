package bedrock

import (
	"strings"
	"time"
	"unicode/utf8"

	"recall/internal/duedate"
	"recall/internal/recall"
)

// Limits of an item's owner and due phrase. Longer is not a name or a
// deadline but a sentence, and is dropped rather than cut.
const (
	MaxOwnerChars   = 80
	MaxDueTextChars = 80
)

// normaliseModelItems makes each item's text one trimmed line without a list
// marker, capped at MaxItemChars, and its owner and due phrase one trimmed
// line each ("" when over their limits; an owner loses a leading "@");
// drops items without a word in their text and items whose text repeats an
// earlier one's (recall.ItemKey), and keeps at most max.
func normaliseModelItems(items []modelItem, max int) []modelItem {
	out := []modelItem{}
	seen := map[string]bool{}
	for _, it := range items {
		it.Text = capText(bullet.ReplaceAllString(oneLine(it.Text), ""), MaxItemChars)
		k := recall.ItemKey(it.Text)
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		it.Owner = strings.TrimSpace(strings.TrimLeft(oneLine(it.Owner), "@"))
		if utf8.RuneCountInString(it.Owner) > MaxOwnerChars {
			it.Owner = ""
		}
		if it.DueText = oneLine(it.DueText); utf8.RuneCountInString(it.DueText) > MaxDueTextChars {
			it.DueText = ""
		}
		out = append(out, it)
		if len(out) == max {
			break
		}
	}
	return out
}

// oneLine is s on one line: trimmed, each run of white space one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// itemLines are the items as the plain strings ai_action_items has always
// held: the owner in front, the deadline after, unless the text already
// says them ("Ben: Rerun the load tests (by Friday)").
func itemLines(items []modelItem) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		s := it.Text
		if it.Owner != "" && !strings.HasPrefix(strings.ToLower(s), strings.ToLower(it.Owner)) {
			s = it.Owner + ": " + s
		}
		if it.DueText != "" && !strings.Contains(strings.ToLower(s), strings.ToLower(it.DueText)) {
			s += " (" + it.DueText + ")"
		}
		out = append(out, s)
	}
	return out
}

// resolveItems turns a reply's items into recall.ActionItems for the
// conversation text the model read, posted at ref. Nothing the text does
// not say is kept: an owner only if the text names them (one of the
// owner's words is a word of the text), a due phrase only if the text
// holds it word for word (so an ISO date the model worked out itself is
// dropped, and one the text spells out is kept), and the phrase is
// resolved to a date by duedate against ref, never taken from the model.
func resolveItems(items []modelItem, text string, ref time.Time, dates duedate.Options) []recall.ActionItem {
	words := " " + recall.ItemKey(text) + " "
	out := make([]recall.ActionItem, 0, len(items))
	for _, it := range items {
		owner := ""
		if it.Owner != "" && namesAny(words, it.Owner) {
			owner = it.Owner
		}
		var due *recall.Date
		if k := recall.ItemKey(it.DueText); k != "" && strings.Contains(words, " "+k+" ") {
			if d, ok := duedate.Find(it.DueText, ref, dates); ok {
				due = &d
			}
		}
		out = append(out, recall.NewActionItem(it.Text, owner, due))
	}
	return out
}

// namesAny reports whether words (" "-joined recall.ItemKey words, with a
// space at each end) holds any word of name of two letters or more.
func namesAny(words, name string) bool {
	for w := range strings.FieldsSeq(recall.ItemKey(name)) {
		if utf8.RuneCountInString(w) >= 2 && strings.Contains(words, " "+w+" ") {
			return true
		}
	}
	return false
}

// mergeActionItems concatenates the parts' items, keeping the first of
// items that share an ID (the same task found in two parts), and at most
// max.
func mergeActionItems(lists [][]recall.ActionItem, max int) []recall.ActionItem {
	out := []recall.ActionItem{}
	seen := map[string]bool{}
	for _, l := range lists {
		for _, it := range l {
			if seen[it.ID] {
				continue
			}
			seen[it.ID] = true
			out = append(out, it)
			if len(out) == max {
				return out
			}
		}
	}
	return out
}

// datesKey names the day relative due dates in a conversation posted at
// created count from, and how dates are read, for the cache key: an
// analysis holds due dates resolved against that day, so it is reused only
// for the same day. "" when created is zero (then only dates that spell
// out their year resolve).
func datesKey(created time.Time, dates duedate.Options) string {
	if created.IsZero() {
		return ""
	}
	loc := dates.Location
	if loc == nil {
		loc = time.UTC
	}
	return created.In(loc).Format(time.DateOnly) + " " + loc.String() + " " + dates.Order.String()
}
