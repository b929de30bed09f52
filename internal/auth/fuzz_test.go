package auth_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"recall/internal/auth"
	"recall/internal/recall"
)

// FuzzBearerToken checks both halves of HS256's promise.
//
// Refusal: an arbitrary Authorization header must never panic, and is
// refused with a described unauthorized error unless it is a token signed
// with the secret (whose only subject in the corpus is "alice").
//
// Acceptance: a token minted from the fuzzer's sub and lifetime must be
// accepted as exactly that sub when Mint accepts the sub (and Mint must
// refuse exactly the subs ValidOwner refuses); the same token with one
// byte changed must be refused unless the change decodes to the same
// bytes; and one that expired past the leeway must be refused.
func FuzzBearerToken(f *testing.F) {
	valid, err := auth.Mint(secret, "alice", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct {
		header, sub string
		ttl         int64
		at          uint16
		flip        byte
	}{
		{"Bearer " + valid, "alice", 3600, 0, 1},
		{"bearer " + valid, "bob@example.com", 1, 10, 0x20},
		{"Bearer " + valid[:len(valid)-2], "Zoë 🦊", 86400 * 365, 40, 0x7f},
		{"Bearer " + strings.Replace(valid, ".", "..", 1), "a", -60, 500, 0x01},
		{"Basic YWxpY2U6cHc=", strings.Repeat("s", auth.MaxOwnerBytes), 0, 65535, 0x80},
		{"Bearer", strings.Repeat("s", auth.MaxOwnerBytes+1), 5, 3, 0x02},
		{"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.", "", 100, 7, 0x04},
		{"", "tab\there", 100, 8, 0x08},
		{"Bearer x", "bad\xffutf8", 100, 9, 0x10},
	} {
		f.Add(s.header, s.sub, s.ttl, s.at, s.flip)
	}
	h, err := auth.NewHS256(secret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header, sub string, ttl int64, at uint16, flip byte) {
		owner, err := authenticate(h, header)
		if err == nil && owner != "alice" {
			t.Fatalf("accepted %q as %q", header, owner)
		}
		if err != nil {
			requireUnauthorized(t, header, err)
		}
		// A lifetime of 1 second to 10 years: Mint refuses others.
		life := time.Duration(1+uint64(ttl)%(10*365*86400)) * time.Second
		tok, err := auth.Mint(secret, sub, life)
		if !auth.ValidOwner(sub) {
			if err == nil {
				t.Fatalf("Mint accepted sub %q, which ValidOwner refuses", sub)
			}
			return
		}
		if err != nil {
			t.Fatalf("Mint(%q, %s): %v", sub, life, err)
		}
		for _, scheme := range []string{"Bearer ", "bearer ", "BEARER  "} {
			if got, err := authenticate(h, scheme+tok); err != nil || got != sub {
				t.Fatalf("a token minted for %q (lifetime %s) came back as %q, %v", sub, life, got, err)
			}
		}
		mutated := []byte(tok)
		i := int(at) % len(mutated)
		mutated[i] ^= flip | 1
		got, err := authenticate(h, "Bearer "+string(mutated))
		switch {
		case err == nil && !sameToken(tok, string(mutated)):
			t.Fatalf("byte %d of the token for %q changed (%q), yet accepted as %q", i, sub, mutated, got)
		case err == nil && got != sub:
			t.Fatalf("an equivalent token for %q accepted as %q", sub, got)
		case err != nil:
			requireUnauthorized(t, string(mutated), err)
		}
		expired := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Subject: sub,
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(-auth.Leeway - life))})
		old, err := expired.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := authenticate(h, "Bearer "+old); err == nil {
			t.Fatalf("a token for %q that expired %s ago was accepted as %q", sub, auth.Leeway+life, got)
		} else {
			requireUnauthorized(t, old, err)
		}
	})
}

// authenticate runs h on a request whose Authorization header is header.
func authenticate(h *auth.HS256, header string) (string, error) {
	r := httptest.NewRequest("GET", "/api/conversations", nil)
	r.Header["Authorization"] = []string{header}
	return h.Authenticate(r)
}

func requireUnauthorized(t *testing.T, input string, err error) {
	t.Helper()
	var re *recall.Error
	if !errors.As(err, &re) || re.Code != recall.EUNAUTHORIZED || re.Message == "" {
		t.Fatalf("%q: error %v is not a described unauthorized error", input, err)
	}
}

// sameToken reports whether b decodes to the same three segments as a: a
// change in the unused low bits of a segment's last base64 character
// leaves the token what it was.
func sameToken(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if len(pa) != 3 || len(pb) != 3 {
		return false
	}
	for i := range pa {
		da, err1 := base64.RawURLEncoding.DecodeString(pa[i])
		db, err2 := base64.RawURLEncoding.DecodeString(pb[i])
		if err1 != nil || err2 != nil || !bytes.Equal(da, db) {
			return false
		}
	}
	return true
}
