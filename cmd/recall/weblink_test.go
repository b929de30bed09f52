package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"recall/internal/auth"
)

func TestLinkHost(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		":8000":          "localhost:8000",
		"0.0.0.0:8000":   "localhost:8000",
		"[::]:8000":      "localhost:8000",
		"127.0.0.1:9000": "127.0.0.1:9000",
		"recall.lan:80":  "recall.lan:80",
		"[::1]:8000":     "[::1]:8000",
	} {
		if got := linkHost(addr); got != want {
			t.Errorf("linkHost(%q) = %q, want %q", addr, got, want)
		}
	}
}

// recall token --link prints a link whose fragment holds a token the
// server accepts for that user.
func TestTokenLink(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("RECALL_JWT_SECRET", "")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"token", "--user", "erin", "--link", "--addr", ":8123", "--data", dir}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	link := strings.TrimSpace(out.String())
	prefix := "http://localhost:8123/#token="
	if !strings.HasPrefix(link, prefix) {
		t.Fatalf("link %q", link)
	}
	secret, err := auth.LocalSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewHS256(secret)
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := v.Verify(strings.TrimPrefix(link, prefix)); err != nil || sub != "erin" {
		t.Errorf("the link's token: sub %q, %v", sub, err)
	}
}

func TestPrintSignIn(t *testing.T) {
	t.Parallel()
	secret := []byte("a-secret-that-is-at-least-32-bytes-long!")
	var out bytes.Buffer
	if err := printSignIn(&out, "[::]:8000", secret, "frank"); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	i := strings.Index(s, "http://localhost:8000/#token=")
	if !strings.HasPrefix(s, "Recall is at http://localhost:8000/\n") || i < 0 {
		t.Fatalf("printed %q", s)
	}
	tok := strings.TrimSpace(s[i+len("http://localhost:8000/#token="):])
	v, err := auth.NewHS256(secret)
	if err != nil {
		t.Fatal(err)
	}
	if sub, err := v.Verify(tok); err != nil || sub != "frank" {
		t.Errorf("the link's token: sub %q, %v", sub, err)
	}
	if defaultUser() == "" {
		t.Errorf("no default user")
	}
}
