package boltstore_test

import (
	"path/filepath"
	"testing"

	"recall/internal/boltstore"
	"recall/internal/recall"
	"recall/internal/recall/recalltest"
)

func TestItems(t *testing.T) {
	recalltest.Items(t, func(t *testing.T) recall.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "recall.db"), boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
