package auth_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"recall/internal/auth"
	"recall/internal/recall"
)

// FuzzBearerToken feeds arbitrary Authorization header values to HS256:
// it must never panic, and must refuse everything with an unauthorized error
// except a token signed with the secret (whose only subject is "alice").
func FuzzBearerToken(f *testing.F) {
	valid, err := auth.Mint(secret, "alice", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"Bearer " + valid,
		"bearer " + valid,
		"Bearer " + valid[:len(valid)-2],
		"Bearer " + strings.Replace(valid, ".", "..", 1),
		"Basic YWxpY2U6cHc=",
		"Bearer",
		"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.",
		"",
	} {
		f.Add(s)
	}
	h, err := auth.NewHS256(secret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/api/conversations", nil)
		r.Header["Authorization"] = []string{header}
		owner, err := h.Authenticate(r)
		if err == nil {
			if owner != "alice" {
				t.Fatalf("accepted %q as %q", header, owner)
			}
			return
		}
		var re *recall.Error
		if !errors.As(err, &re) || re.Code != recall.EUNAUTHORIZED || re.Message == "" {
			t.Fatalf("header %q: error %v is not a described unauthorized error", header, err)
		}
	})
}
