// Package searchtest holds what every recall.Index must pass, river-style:
// Exercise, the behaviour suite (owners kept apart, delete, replace, query
// syntax, paging, escaped highlights), and Evaluate, the relevance
// measurement over a fixed evaluation set of realistic conversations and
// the conversations a person would expect each query to find.
//
// The evaluation set (testdata/eval) was written before any index was
// tuned against it, and is embedded so every index package measures the
// same thing.
package searchtest

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"recall/internal/recall"
)

//go:embed testdata/eval/*.json
var evalFS embed.FS

// EvalQuery is one query of the evaluation set and what a person would
// expect it to find: conversation ID → grade (2 the one they mean, 1 also
// relevant).
type EvalQuery struct {
	Owner    string         `json:"owner"`
	Q        string         `json:"q"`
	Kind     string         `json:"kind"`
	Relevant map[string]int `json:"relevant"`
}

// EvalSet is the evaluation set.
type EvalSet struct {
	Conversations []*recall.Conversation
	Queries       []EvalQuery
}

// LoadEval reads the embedded evaluation set. The conversations are done
// (analysed) and get CreatedAt/UpdatedAt a minute apart, in file order.
func LoadEval() (EvalSet, error) {
	var set EvalSet
	raw, err := evalFS.ReadFile("testdata/eval/conversations.json")
	if err != nil {
		return set, err
	}
	if err := json.Unmarshal(raw, &set.Conversations); err != nil {
		return set, fmt.Errorf("searchtest: conversations.json: %w", err)
	}
	raw, err = evalFS.ReadFile("testdata/eval/queries.json")
	if err != nil {
		return set, err
	}
	if err := json.Unmarshal(raw, &set.Queries); err != nil {
		return set, fmt.Errorf("searchtest: queries.json: %w", err)
	}
	base := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for i, c := range set.Conversations {
		c.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		c.UpdatedAt = c.CreatedAt.Add(30 * time.Second)
		c.ProcessedAt = c.UpdatedAt
		c.Status, c.Run, c.Priority = recall.StatusDone, 1, recall.PriorityDefault
	}
	return set, nil
}

// Metrics are the evaluation's results.
type Metrics struct {
	// MRR10 is the mean over queries of 1/rank of the first relevant hit
	// in the top 10 (0 when none is).
	MRR10 float64
	// Recall5 is the mean over queries of the share of relevant
	// conversations found in the top 5 (of at most 5 relevant).
	Recall5 float64
	// ByKind is MRR@10 per kind of query (paraphrase, name, …).
	ByKind map[string]float64
	// Misses lists queries whose first relevant hit is not at rank 1.
	Misses []string
}

// Evaluate indexes the evaluation set into idx, runs every query and
// returns MRR@10 and recall@5. It fails the test if a search errors or
// returns another owner's conversation: isolation is not a metric.
func Evaluate(t testing.TB, idx recall.Index) Metrics {
	t.Helper()
	ctx := context.Background()
	set, err := LoadEval()
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{}
	for _, c := range set.Conversations {
		owner[c.ID] = c.Owner
		if err := idx.Index(ctx, c); err != nil {
			t.Fatalf("index %s: %v", c.ID, err)
		}
	}
	m := Metrics{ByKind: map[string]float64{}}
	kinds := map[string]int{}
	for _, q := range set.Queries {
		page, err := idx.Search(ctx, q.Owner, recall.SearchQuery{Text: q.Q, Limit: 10})
		if err != nil {
			t.Fatalf("search %q: %v", q.Q, err)
		}
		var got []string
		for _, h := range page.Hits {
			if owner[h.ID] != q.Owner {
				t.Fatalf("search %q as %s returned %s, owned by %q", q.Q, q.Owner, h.ID, owner[h.ID])
			}
			got = append(got, h.ID)
		}
		rr := 0.0
		for i, id := range got {
			if q.Relevant[id] > 0 {
				rr = 1 / float64(i+1)
				break
			}
		}
		found := 0
		for _, id := range got[:min(5, len(got))] {
			if q.Relevant[id] > 0 {
				found++
			}
		}
		rec := float64(found) / float64(min(5, len(q.Relevant)))
		m.MRR10 += rr
		m.Recall5 += rec
		m.ByKind[q.Kind] += rr
		kinds[q.Kind]++
		if rr < 1 {
			m.Misses = append(m.Misses, fmt.Sprintf("%s %q: rr %.2f, got %v, want %v", q.Owner, q.Q, rr, got, keys(q.Relevant)))
		}
	}
	n := float64(len(set.Queries))
	m.MRR10 /= n
	m.Recall5 /= n
	for k, c := range kinds {
		m.ByKind[k] /= float64(c)
	}
	return m
}

// Log writes m to the test log, so `go test -v` shows the figures.
func (m Metrics) Log(t testing.TB, name string) {
	t.Helper()
	var kinds []string
	for k := range m.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, " %s=%.2f", k, m.ByKind[k])
	}
	t.Logf("%s: MRR@10 %.3f, recall@5 %.3f; MRR@10 by kind:%s", name, m.MRR10, m.Recall5, b.String())
	for _, miss := range m.Misses {
		t.Logf("  not first: %s", miss)
	}
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
