package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
	"github.com/golang-jwt/jwt/v5"

	"recall/internal/auth"
	"recall/internal/recall"
)

var secret = []byte("test-secret-that-is-at-least-32-bytes-long")

func newHS256(t testing.TB) *auth.HS256 {
	t.Helper()
	h, err := auth.NewHS256(secret)
	if err != nil {
		t.Fatalf("NewHS256: %v", err)
	}
	return h
}

func sign(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func withAuth(values ...string) *http.Request {
	r := httptest.NewRequest("GET", "/api/conversations", nil)
	for _, v := range values {
		r.Header.Add("Authorization", v)
	}
	return r
}

func TestHS256(t *testing.T) {
	t.Parallel()
	h := newHS256(t)
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	valid, err := auth.Mint(secret, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hs := func(claims jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, secret, claims, nil) }

	tests := []struct {
		name    string
		headers []string
		owner   string // "" means the request must be refused
		msg     string
	}{
		{"valid", []string{"Bearer " + valid}, "alice", ""},
		{"lower-case scheme", []string{"bearer " + valid}, "alice", ""},
		{"upper-case scheme", []string{"BEARER " + valid}, "alice", ""},
		{"extra spaces", []string{"Bearer   " + valid + "  "}, "alice", ""},
		{"nbf in the past", []string{"Bearer " + hs(jwt.MapClaims{"sub": "bob", "exp": exp, "nbf": now.Add(-time.Minute).Unix()})}, "bob", ""},
		{"within leeway", []string{"Bearer " + hs(jwt.MapClaims{"sub": "bob", "exp": now.Add(-2 * time.Second).Unix()})}, "bob", ""},
		{"unicode sub", []string{"Bearer " + hs(jwt.MapClaims{"sub": "zoë@example.com", "exp": exp})}, "zoë@example.com", ""},

		{"missing", nil, "", "Authorization header is missing"},
		{"empty", []string{""}, "", "Authorization header is missing"},
		{"two headers", []string{"Bearer " + valid, "Bearer " + valid}, "", "one Authorization header"},
		{"basic", []string{"Basic YWxpY2U6cHc="}, "", "Bearer scheme"},
		{"scheme only", []string{"Bearer"}, "", "empty"},
		{"token without scheme", []string{valid}, "", "Bearer scheme"},
		{"too large", []string{"Bearer " + strings.Repeat("a", auth.MaxTokenBytes+1)}, "", "8192"},
		{"too large header", []string{"Bearer " + strings.Repeat(" ", 10000) + valid}, "", "8192"},
		{"malformed", []string{"Bearer abc"}, "", "malformed"},
		{"bad base64", []string{"Bearer !!!.???.***"}, "", "malformed"},
		{"expired", []string{"Bearer " + hs(jwt.MapClaims{"sub": "alice", "exp": now.Add(-time.Minute).Unix()})}, "", "token expired"},
		{"not yet valid", []string{"Bearer " + hs(jwt.MapClaims{"sub": "alice", "exp": exp, "nbf": now.Add(time.Minute).Unix()})}, "", "not valid yet"},
		{"issued in the future", []string{"Bearer " + hs(jwt.MapClaims{"sub": "alice", "exp": exp, "iat": now.Add(time.Hour).Unix()})}, "", "issued in the future"},
		{"no exp", []string{"Bearer " + hs(jwt.MapClaims{"sub": "alice"})}, "", "exp"},
		{"exp not a number", []string{"Bearer " + hs(jwt.MapClaims{"sub": "alice", "exp": "tomorrow"})}, "", "malformed"},
		{"no sub", []string{"Bearer " + hs(jwt.MapClaims{"exp": exp})}, "", "no sub"},
		{"sub with control characters", []string{"Bearer " + hs(jwt.MapClaims{"sub": "al\nice", "exp": exp})}, "", "sub"},
		{"sub too long", []string{"Bearer " + hs(jwt.MapClaims{"sub": strings.Repeat("a", auth.MaxOwnerBytes+1), "exp": exp})}, "", "sub"},
		{"wrong secret", []string{"Bearer " + sign(t, jwt.SigningMethodHS256, []byte("a-different-secret-of-32-bytes!!!"), jwt.MapClaims{"sub": "alice", "exp": exp}, nil)}, "", "signature is invalid"},
		{"tampered claims", []string{"Bearer " + tamper(t, valid)}, "", "signature is invalid"},
		{"alg none", []string{"Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"sub": "alice", "exp": exp}, nil)}, "", `"none"`},
		{"HS384", []string{"Bearer " + sign(t, jwt.SigningMethodHS384, secret, jwt.MapClaims{"sub": "alice", "exp": exp}, nil)}, "", `"HS384"`},
		{"HS512", []string{"Bearer " + sign(t, jwt.SigningMethodHS512, secret, jwt.MapClaims{"sub": "alice", "exp": exp}, nil)}, "", `"HS512"`},
		{"RS256", []string{"Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey, jwt.MapClaims{"sub": "alice", "exp": exp}, nil)}, "", `"RS256"`},
		{"ES256", []string{"Bearer " + sign(t, jwt.SigningMethodES256, ecKey, jwt.MapClaims{"sub": "alice", "exp": exp}, nil)}, "", `"ES256"`},
		// Algorithm confusion: an HS256 signature made with the public key
		// as the secret, labelled RS256.
		{"RS256 confusion", []string{"Bearer " + relabel(t, sign(t, jwt.SigningMethodHS256, rsaKey.N.Bytes(), jwt.MapClaims{"sub": "alice", "exp": exp}, nil), "RS256")}, "", `"RS256"`},
		{"alg missing", []string{"Bearer " + relabel(t, valid, "")}, "", "no alg"},
		{"alg lower case", []string{"Bearer " + relabel(t, valid, "hs256")}, "", `"hs256"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			owner, err := h.Authenticate(withAuth(tc.headers...))
			if tc.owner != "" {
				if err != nil || owner != tc.owner {
					t.Fatalf("owner %q, err %v; want %q", owner, err, tc.owner)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted as %q", owner)
			}
			var re *recall.Error
			if !errors.As(err, &re) || re.Code != recall.EUNAUTHORIZED {
				t.Fatalf("error %v is not unauthorized", err)
			}
			if !strings.Contains(re.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", re.Message, tc.msg)
			}
		})
	}
}

// tamper changes the claims of a token and keeps its signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	claims := jwt.MapClaims{"sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()}
	forged := sign(t, jwt.SigningMethodHS256, []byte("whatever-secret-whatever-secret!"), claims, nil)
	return parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
}

// relabel rewrites a token's header with another alg (none when alg is
// empty), keeping claims and signature.
func relabel(t *testing.T, tok, alg string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	header := `{"typ":"JWT"}`
	if alg != "" {
		header = `{"alg":"` + alg + `","typ":"JWT"}`
	}
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + parts[1] + "." + parts[2]
}

func TestNewHS256AndMint(t *testing.T) {
	t.Parallel()
	if _, err := auth.NewHS256([]byte("short")); err == nil {
		t.Error("NewHS256 accepted a 5-byte secret")
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		sub    string
		ttl    time.Duration
	}{
		{"short secret", []byte("short"), "alice", time.Hour},
		{"empty sub", secret, "", time.Hour},
		{"control sub", secret, "a\x00b", time.Hour},
		{"zero ttl", secret, "alice", 0},
		{"negative ttl", secret, "alice", -time.Minute},
	} {
		if _, err := auth.Mint(tc.secret, tc.sub, tc.ttl); err == nil {
			t.Errorf("%s: Mint succeeded", tc.name)
		}
	}
	tok, err := auth.Mint(secret, "alice", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.RegisteredClaims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &claims)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "HS256" || claims.Subject != "alice" || claims.ExpiresAt == nil || claims.IssuedAt == nil ||
		time.Until(claims.ExpiresAt.Time) > time.Minute || time.Until(claims.ExpiresAt.Time) < 50*time.Second {
		t.Errorf("minted %v %+v", parsed.Header, claims)
	}
	// The secret is copied: changing the caller's slice changes nothing.
	s := append([]byte(nil), secret...)
	h, err := auth.NewHS256(s)
	if err != nil {
		t.Fatal(err)
	}
	s[0] ^= 0xff
	if _, err := h.Verify(tok); err != nil {
		t.Errorf("after the caller's slice changed: %v", err)
	}
}

// TestGateway runs requests through the real proxy adapter, which is what
// puts API Gateway's request context where Gateway reads it.
func TestGateway(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		authorizer *events.APIGatewayV2HTTPRequestContextAuthorizerDescription
		owner      string
	}{
		{"claims", &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
			Claims: map[string]string{"sub": "8c2e4f6a", "iss": "https://auth.example.com/", "exp": "1741791753"}}}, "8c2e4f6a"},
		{"no authorizer", nil, ""},
		{"lambda authorizer only", &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: map[string]any{"sub": "x"}}, ""},
		{"no sub", &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
			Claims: map[string]string{"iss": "https://auth.example.com/"}}}, ""},
		{"control characters in sub", &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
			Claims: map[string]string{"sub": "a\x01b"}}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var owner string
			var aerr error
			h := httpadapter.NewV2(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				owner, aerr = auth.Gateway{}.Authenticate(r)
				w.WriteHeader(204)
			}))
			ev := events.APIGatewayV2HTTPRequest{
				Version: "2.0", RawPath: "/api/conversations",
				Headers:        map[string]string{"authorization": "Bearer whatever"},
				RequestContext: events.APIGatewayV2HTTPRequestContext{Authorizer: tc.authorizer, HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET"}},
			}
			if _, err := h.ProxyWithContext(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			if tc.owner != "" {
				if aerr != nil || owner != tc.owner {
					t.Fatalf("owner %q err %v", owner, aerr)
				}
				return
			}
			if recall.ErrorCode(aerr) != recall.EUNAUTHORIZED {
				t.Fatalf("owner %q err %v; want unauthorized", owner, aerr)
			}
		})
	}
	// Outside API Gateway (no request context at all) nobody is let in,
	// whatever the headers say.
	if _, err := (auth.Gateway{}).Authenticate(withAuth("Bearer " + sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "a"}, nil))); recall.ErrorCode(err) != recall.EUNAUTHORIZED {
		t.Errorf("no context: %v", err)
	}
}
