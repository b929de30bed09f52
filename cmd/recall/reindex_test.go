package main

import (
	"fmt"
	"strings"
	"testing"

	"recall/internal/backends"
	"recall/internal/embedded"
	"recall/internal/extract"
	"recall/internal/memq"
	"recall/internal/recall"
)

// openStoreAt opens the embedded store in dir, for the caller to close
// before a command opens it again.
func openStoreAt(t *testing.T, dir string) *backends.Set {
	t.Helper()
	cfg, err := localConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := backends.OpenStore(t.Context(), cfg, discardLog, embedded.Openers())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storeOnly creates n conversations of alice's in dir's store without
// indexing them, as a process that died between the two writes leaves
// them.
func storeOnly(t *testing.T, dir string, n int) {
	t.Helper()
	b := openStoreAt(t, dir)
	defer b.Close()
	sc := b.ServiceConfig(extract.New(extract.Options{}))
	sc.Queue = memq.New(memq.Options{})
	svc := recall.NewService(sc)
	for i := range n {
		if _, _, err := svc.Create(t.Context(), "alice", recall.CreateRequest{Title: fmt.Sprintf("okapi %d", i), Content: "notes"}, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReindexAndDoctorSeeAnIndexBehind(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	storeOnly(t, dir, 3)

	code, out, errOut := runCLI(t, "doctor", "--data", dir)
	if l := line(out, "search"); code != 1 || !strings.HasPrefix(l, "❌") || !strings.Contains(l, "3 changed after") ||
		!strings.Contains(out, "recall reindex") {
		t.Fatalf("doctor on an index behind the store: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, "reindex", "--data", dir, "--progress", "plain")
	if code != 0 || !strings.Contains(out, "reindexed 3 conversations") || !strings.HasPrefix(errOut, "reindex ") || strings.Contains(errOut, "\r") {
		t.Fatalf("reindex: exit %d\nstdout %q\nstderr %q", code, out, errOut)
	}

	code, out, errOut = runCLI(t, "doctor", "--data", dir)
	if l := line(out, "search"); code != 0 || !strings.HasPrefix(l, "✅") || !strings.Contains(l, "3 conversations, up to date") {
		t.Fatalf("doctor after reindex: exit %d\n%s%s", code, out, errOut)
	}

	// The rebuilt index answers searches.
	b := openStoreAt(t, dir)
	defer b.Close()
	if err := b.OpenIndex(t.Context()); err != nil {
		t.Fatal(err)
	}
	page, err := b.Fulltext.Search(t.Context(), "alice", recall.SearchQuery{Text: "okapi", Limit: 10})
	if err != nil || len(page.Hits) != 3 {
		t.Fatalf("search after reindex: %+v %v", page, err)
	}
}

func TestReindexRefusesWhatItCannotDo(t *testing.T) {
	cleanEnv(t)
	if code, _, errOut := runCLI(t, "reindex", "--progress", "sideways"); code != 2 || !strings.Contains(errOut, "--progress") {
		t.Errorf("bad --progress: exit %d %q", code, errOut)
	}
	t.Setenv("DYNAMODB_TABLE", "recall")
	t.Setenv("AWS_REGION", "us-east-1")
	if code, _, errOut := runCLI(t, "reindex"); code != 1 || !strings.Contains(errOut, "no embedded search index") {
		t.Errorf("reindex on DynamoDB: exit %d %q", code, errOut)
	}
}
