package fulltext_test

import (
	"path/filepath"
	"testing"

	"recall/internal/fulltext"
	"recall/internal/recall"
	"recall/internal/recall/searchtest"
)

// open opens a fresh index in a temporary directory, closed at cleanup.
func open(t testing.TB) *fulltext.Index {
	t.Helper()
	x, err := fulltext.Open(filepath.Join(t.TempDir(), "search.bleve"), fulltext.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Close() })
	return x
}

func TestIndex(t *testing.T) {
	searchtest.Exercise(t, func(t *testing.T) recall.Index { return open(t) })
}

// Relevance floors, set from the first honest run on the evaluation set
// and kept a little below it so noise in the set does not flap the test.
const (
	minMRR10   = 0.85
	minRecall5 = 0.85
)

func TestRelevance(t *testing.T) {
	m := searchtest.Evaluate(t, open(t))
	m.Log(t, "fulltext")
	if m.MRR10 < minMRR10 {
		t.Errorf("MRR@10 %.3f is below the floor %.2f", m.MRR10, minMRR10)
	}
	if m.Recall5 < minRecall5 {
		t.Errorf("recall@5 %.3f is below the floor %.2f", m.Recall5, minRecall5)
	}
}
