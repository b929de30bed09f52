package auth_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"recall/internal/auth"
)

// hex64 reports whether s is a 64-character hex string: 32 random bytes.
func hex64(s []byte) bool {
	b, err := hex.DecodeString(string(s))
	return err == nil && len(b) == 32
}

func TestLocalSecretIsGeneratedOnceAndKept(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	a, err := auth.LocalSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := auth.LocalSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) || !hex64(a) {
		t.Fatalf("secrets differ or are not 64 hex characters: %q %q", a, b)
	}
	st, err := os.Stat(filepath.Join(dir, auth.SecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode = %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the data dir holds %d entries after generating the secret, want only the secret", len(entries))
	}
}

// TestLocalSecretConcurrentCallers races many first callers on fresh data
// directories, as `recall serve` and several `recall token` started at once
// do: every one must get the same whole secret, never a read of a file
// another is still writing.
func TestLocalSecretConcurrentCallers(t *testing.T) {
	t.Parallel()
	for range 20 {
		dir := filepath.Join(t.TempDir(), "data")
		got := make([][]byte, 16)
		errs := make([]error, len(got))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				<-start
				got[i], errs[i] = auth.LocalSecret(dir)
			})
		}
		close(start)
		wg.Wait()
		for i := range got {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if !hex64(got[i]) || !bytes.Equal(got[i], got[0]) {
				t.Fatalf("caller %d got %q, caller 0 got %q; want one 64-hex secret for all", i, got[i], got[0])
			}
		}
	}
}

// TestLocalSecretIgnoresLeftovers: a crash mid-write leaves a short
// temporary file; it must not stop the next run from making the secret.
func TestLocalSecretIgnoresLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "."+auth.SecretFile+"-123456"), []byte("0f3"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := auth.LocalSecret(dir)
	if err != nil || !hex64(s) {
		t.Fatalf("LocalSecret beside a leftover = %q, %v; want a fresh 64-hex secret", s, err)
	}
}

func TestLocalSecretRefusesAShortFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, auth.SecretFile), []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LocalSecret(dir); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("LocalSecret over a short file = %v; want an error saying to delete it", err)
	}
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	secret := []byte(strings.Repeat("k", 32))
	a, b := auth.DeriveKey(secret, "recall list cursor"), auth.DeriveKey(secret, "other")
	if len(a) != 32 || bytes.Equal(a, b) || bytes.Contains(a, secret) {
		t.Fatalf("DeriveKey: %x / %x", a, b)
	}
	if !bytes.Equal(a, auth.DeriveKey(secret, "recall list cursor")) {
		t.Fatal("DeriveKey is not deterministic")
	}
}
