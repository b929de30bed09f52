package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recall analyze resolves relative due dates from the day the conversation
// was posted (--date, or today) and prints each item with its owner and
// date; without a day "by Friday" was never resolved.
func TestAnalyzePrintsOwnersAndDueDates(t *testing.T) {
	t.Setenv("RECALL_AI", "local")
	file := filepath.Join(t.TempDir(), "chat.txt")
	if err := os.WriteFile(file, []byte("Dana: I will send the deck by Friday\nEli: thanks, sounds good\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a Wednesday", []string{"analyze", "--date", "2026-12-02", file}, 0, "  - Send the deck (Dana, due 2026-12-04)\n"},
		{"the Friday after", []string{"analyze", "--date", "2026-12-05", file}, 0, "  - Send the deck (Dana, due 2026-12-11)\n"},
		{"not a date", []string{"analyze", "--date", "02/12/2026", file}, 2, `--date "02/12/2026" is not a date`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := run(t.Context(), tc.args, &out, &errOut)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errOut.String())
			}
			if got := out.String() + errOut.String(); !strings.Contains(got, tc.want) {
				t.Fatalf("output lacks %q:\n%s", tc.want, got)
			}
		})
	}
}
