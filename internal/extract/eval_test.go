package extract

import (
	"encoding/json"
	"os"
	"path/filepath"
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
