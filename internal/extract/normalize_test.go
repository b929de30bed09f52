package extract

import (
	"strings"
	"testing"
)

// TestNeedsNormalizing holds the byte scan to what it replaces:
// strings.ContainsAny over the characters normalize removes, including
// their neighbours in the same UTF-8 blocks.
func TestNeedsNormalizing(t *testing.T) {
	t.Parallel()
	const special = "\r\x00\u200b\u200c\u200d\ufeff\u2028\u2029"
	inputs := []string{"", "plain text", "a\rb", "a\x00b", "\u200a\u200e\u2027\u202a\ufefe\ufeff", "café — naïve “quotes” …", "end\u2029"}
	for r := rune(0x2000); r < 0x2100; r++ {
		inputs = append(inputs, "x"+string(r)+"y")
	}
	for r := rune(0xFE00); r <= 0xFFFD; r++ {
		inputs = append(inputs, string(r))
	}
	for _, s := range inputs {
		if got, want := needsNormalizing(s), strings.ContainsAny(s, special); got != want {
			t.Errorf("needsNormalizing(%q) = %v, want %v", s, got, want)
		}
	}
}
