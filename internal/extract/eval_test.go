package extract

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the evaluation set names IANA zones; do not depend on the host's

	"recall/internal/duedate"
	"recall/internal/recall"
)

// evalDir holds the action-item evaluation set (see its README.md).
const evalDir = "testdata/eval"

// evalItem is one labelled action item.
type evalItem struct {
	Text         string   `json:"text"`
	Owner        *string  `json:"owner"`
	OwnerAliases []string `json:"owner_aliases"`
	Due          *string  `json:"due"`
}

// evalCase is one labelled conversation.
type evalCase struct {
	Name      string
	Content   string
	CreatedAt time.Time  `json:"created_at"`
	Timezone  string     `json:"timezone"`
	DateOrder string     `json:"date_order"`
	Items     []evalItem `json:"items"`
	loc       *time.Location
	order     duedate.Order
}

// loadEvalSet reads every labelled conversation and checks that the labels
// are well formed, so a typo in a label fails loudly instead of counting as
// the analyzer's mistake.
func loadEvalSet(t testing.TB) []evalCase {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(evalDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []evalCase
	for _, path := range names {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		var c evalCase
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		content, err := os.ReadFile(filepath.Join(evalDir, name+".txt"))
		if err != nil {
			t.Fatalf("%s: labels without a conversation: %v", name, err)
		}
		c.Name, c.Content = name, string(content)
		if c.CreatedAt.IsZero() {
			t.Fatalf("%s: no created_at", name)
		}
		c.loc = time.UTC
		if c.Timezone != "" {
			if c.loc, err = time.LoadLocation(c.Timezone); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if c.order, err = duedate.ParseOrder(c.DateOrder); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, it := range c.Items {
			if strings.TrimSpace(it.Text) == "" || len(contentWords(it.Text)) == 0 {
				t.Fatalf("%s: item %d has no text", name, i)
			}
			if it.Owner != nil && strings.TrimSpace(*it.Owner) == "" {
				t.Fatalf("%s: item %d: owner is empty; write null", name, i)
			}
			if it.Due != nil {
				if _, err := recall.ParseDate(*it.Due); err != nil {
					t.Fatalf("%s: item %d: %v", name, i, err)
				}
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// TestEvalSetLabels holds the evaluation set to its size: at least 30
// conversations and 80 labelled items, every label well formed.
func TestEvalSetLabels(t *testing.T) {
	t.Parallel()
	cases := loadEvalSet(t)
	items := 0
	for _, c := range cases {
		items += len(c.Items)
	}
	if len(cases) < 30 || items < 80 {
		t.Fatalf("evaluation set has %d conversations and %d items; want at least 30 and 80", len(cases), items)
	}
	txts, _ := filepath.Glob(filepath.Join(evalDir, "*.txt"))
	if len(txts) != len(cases) {
		t.Errorf("%d conversations but %d label files", len(txts), len(cases))
	}
}

// evalStop are words too common to tell two tasks apart.
var evalStop = wordSet(`a an the and or of to for in on at by with from into as is are be it its this that these those
i i'll we we'll you your our my me us he she they them his her their will would can could should shall must need needs
please pls let let's also just then so up out if not no`)

// contentWords returns the distinct lower-case words of s that say what a
// task is about: letters and digits, no stop words, no single letters.
func contentWords(s string) map[string]bool {
	words := map[string]bool{}
	for w := range strings.FieldsFuncSeq(strings.ToLower(s), func(r rune) bool {
		return !isWordRune(r) && r != '\'' && r != '’' && r != '#'
	}) {
		w = strings.Trim(strings.ReplaceAll(w, "’", "'"), "'#")
		if len(w) < 2 || has(evalStop, w) {
			continue
		}
		words[stem(w)] = true
	}
	return words
}

// minMatch is the least text similarity at which an extracted item counts
// as a labelled one: the Dice coefficient of their content words
// (contentWords: lower-cased, stemmed, without stop words), 2|A∩B|/(|A|+|B|).
// At 0.5 an item must share about half its words with the label, which
// tolerates the extra words of an extractive item ("I'll post an update on
// the status page and close the incident" for "Post an update on the
// status page") but not a different task with one word in common.
const minMatch = 0.5

func dice(a, b map[string]bool) float64 {
	if len(a)+len(b) == 0 {
		return 0
	}
	common := 0
	for w := range a {
		if b[w] {
			common++
		}
	}
	return 2 * float64(common) / float64(len(a)+len(b))
}

// evalPair is a labelled item and the extracted item matched to it.
type evalPair struct {
	want evalItem
	got  recall.ActionItem
}

// matchItems pairs labels with extracted items one to one, best
// similarity first, keeping pairs at or above minMatch. It returns the pairs,
// the labels left unmatched and the extracted items left unmatched.
func matchItems(want []evalItem, got []recall.ActionItem) (pairs []evalPair, missed []evalItem, extra []recall.ActionItem) {
	type cand struct {
		w, g  int
		score float64
	}
	var cands []cand
	for wi, w := range want {
		ww := contentWords(w.Text)
		for gi, g := range got {
			if s := dice(ww, contentWords(g.Text)); s >= minMatch {
				cands = append(cands, cand{wi, gi, s})
			}
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(b.score, a.score) })
	usedW, usedG := make([]bool, len(want)), make([]bool, len(got))
	for _, c := range cands {
		if usedW[c.w] || usedG[c.g] {
			continue
		}
		usedW[c.w], usedG[c.g] = true, true
		pairs = append(pairs, evalPair{want[c.w], got[c.g]})
	}
	for i, u := range usedW {
		if !u {
			missed = append(missed, want[i])
		}
	}
	for i, u := range usedG {
		if !u {
			extra = append(extra, got[i])
		}
	}
	return pairs, missed, extra
}

// sameOwner compares owners ignoring case, a leading "@", punctuation and
// spacing, and accepting the label's aliases and a person's first name for
// their full name ("Hannah" for "Hannah Becker", either way round); two
// nils are the same.
func sameOwner(want evalItem, got *string) bool {
	if want.Owner == nil || got == nil {
		return want.Owner == nil && got == nil
	}
	g := recall.ItemKey(*got)
	for _, w := range append([]string{*want.Owner}, want.OwnerAliases...) {
		k := recall.ItemKey(w)
		if k == g || strings.HasPrefix(g, k+" ") || strings.HasPrefix(k, g+" ") {
			return true
		}
	}
	return false
}

func sameDue(want *string, got *recall.Date) bool {
	if want == nil || got == nil {
		return want == nil && got == nil
	}
	return *want == got.String()
}

func orNull[T any](p *T) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// The floors TestEvaluate holds the development group to: at or a
// little below what it reaches (recall 0.947, precision 0.926, owner
// 0.988, due 0.994), so that a change that makes it worse fails, and one
// that makes it better should raise them. They are above the issue's
// targets (0.85, 0.85, 0.9, 0.9) because the rules were tuned on these
// conversations; the held-out groups, which no floor holds, are lower
// (holdout 0.880 / 0.880 / 0.955 / 0.682, holdout2 0.625 / 0.769 / 0.675
// / 0.700 when these floors were set) and are the honest estimate.
const (
	floorRecall    = 0.94
	floorPrecision = 0.92
	floorOwner     = 0.98
	floorDue       = 0.98
)

// evalScore counts what TestEvaluate measures over some conversations.
type evalScore struct {
	labelled, extracted, matched, ownerOK, dueOK, dueLabelled, dueLabelledOK int
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func (s evalScore) recall() float64    { return ratio(s.matched, s.labelled) }
func (s evalScore) precision() float64 { return ratio(s.matched, s.extracted) }
func (s evalScore) owner() float64     { return ratio(s.ownerOK, s.matched) }
func (s evalScore) due() float64       { return ratio(s.dueOK, s.matched) }

func (s evalScore) String() string {
	return fmt.Sprintf("%d labelled, %d extracted, %d matched: recall %.3f  precision %.3f  owner accuracy %.3f  due accuracy %.3f (%d/%d on items with a labelled date)",
		s.labelled, s.extracted, s.matched, s.recall(), s.precision(), s.owner(), s.due(), s.dueLabelledOK, s.dueLabelled)
}

// evalGroup says which part of the set a conversation belongs to, by its
// name: the rules are tuned on "development" only. "holdout" (holdout-*)
// was written after the first rules and never tuned on; "holdout2"
// (holdout2-*) was written and committed by another hand before the
// second round of tuning and never tuned on either. The held-out figures
// are the fairer estimate of how the rules do on new text.
func evalGroup(name string) string {
	switch {
	case strings.HasPrefix(name, "holdout2-"):
		return "holdout2"
	case strings.HasPrefix(name, "holdout-"):
		return "holdout"
	}
	return "development"
}

// TestEvaluate runs the local analyzer over the evaluation set and reports
// the precision and recall of its action items and, on the items it found,
// how often the owner and the due date are right, for each group of
// conversations (evalGroup) and for all of them. It fails when the
// development group is below the floors; the held-out groups are reported,
// never held to a floor, so that nobody is tempted to tune on them.
// Run with -v to see the figures, and with EVAL_DETAIL=1 to see every miss
// (EVAL_GROUP=development limits the detail to one group).
func TestEvaluate(t *testing.T) {
	t.Parallel()
	detail := os.Getenv("EVAL_DETAIL") != ""
	only := os.Getenv("EVAL_GROUP")
	var all evalScore
	groups := map[string]*evalScore{"development": {}, "holdout": {}, "holdout2": {}}
	for _, c := range loadEvalSet(t) {
		group := evalGroup(c.Name)
		show := detail && (only == "" || only == group)
		s := evaluateCase(t, c, show)
		all.add(s)
		groups[group].add(s)
	}
	for _, g := range []string{"development", "holdout", "holdout2"} {
		t.Logf("%-12s %v", g+":", *groups[g])
	}
	t.Logf("%-12s %v", "all:", all)
	dev := groups["development"]
	for _, f := range []struct {
		name       string
		got, floor float64
	}{{"recall", dev.recall(), floorRecall}, {"precision", dev.precision(), floorPrecision}, {"owner accuracy", dev.owner(), floorOwner}, {"due accuracy", dev.due(), floorDue}} {
		if f.got < f.floor {
			t.Errorf("development %s %.3f is below its floor %.2f", f.name, f.got, f.floor)
		}
	}
}

// evaluateCase analyzes one labelled conversation and scores it, logging
// every miss when detail is set.
func evaluateCase(t *testing.T, c evalCase, detail bool) evalScore {
	t.Helper()
	a := New(Options{Location: c.loc, DateOrder: c.order})
	res, err := a.Analyze(t.Context(), recall.AnalysisInput{ConversationID: c.Name, Content: c.Content, CreatedAt: c.CreatedAt})
	if err != nil {
		t.Fatal(err)
	}
	pairs, missed, extra := matchItems(c.Items, res.Items)
	var s evalScore
	s.labelled, s.extracted, s.matched = len(c.Items), len(res.Items), len(pairs)
	for _, p := range pairs {
		if sameOwner(p.want, p.got.Owner) {
			s.ownerOK++
		} else if detail {
			t.Logf("%s: owner of %q: got %s, want %s", c.Name, p.want.Text, orNull(p.got.Owner), orNull(p.want.Owner))
		}
		if sameDue(p.want.Due, p.got.Due) {
			s.dueOK++
		} else if detail {
			t.Logf("%s: due of %q: got %s, want %s", c.Name, p.want.Text, orNull(p.got.Due), orNull(p.want.Due))
		}
		if p.want.Due != nil {
			s.dueLabelled++
			if sameDue(p.want.Due, p.got.Due) {
				s.dueLabelledOK++
			}
		}
	}
	if detail {
		for _, m := range missed {
			t.Logf("%s: missed %q", c.Name, m.Text)
		}
		for _, e := range extra {
			t.Logf("%s: extra %q", c.Name, e.Text)
		}
	}
	return s
}

func (s *evalScore) add(o evalScore) {
	s.labelled += o.labelled
	s.extracted += o.extracted
	s.matched += o.matched
	s.ownerOK += o.ownerOK
	s.dueOK += o.dueOK
	s.dueLabelled += o.dueLabelled
	s.dueLabelledOK += o.dueLabelledOK
}
