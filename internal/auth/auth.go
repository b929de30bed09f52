// Package auth says who is calling the API. It offers two
// httpapi.Authenticator implementations: HS256, which verifies bearer JWTs
// signed with a shared secret (the local runner, with tokens from
// `recall token`), and Gateway, which trusts the claims API Gateway's JWT
// authorizer has already verified (the Lambda functions). Either way the
// owner is the token's sub claim. Every failure is a recall.EUNAUTHORIZED
// error whose message says what is wrong with the credentials.
//
// It also keeps the local runner's secret in the data directory
// (LocalSecret), the one HS256 key `recall serve` and `recall token` share.
package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/golang-jwt/jwt/v5"

	"recall/internal/recall"
)

// Limits on credentials.
const (
	// MinSecretBytes is the shortest HS256 secret accepted: RFC 7518 asks
	// for a key at least as long as the hash (256 bits), and a shorter one
	// can be brute-forced from a single token.
	MinSecretBytes = 32
	// MaxTokenBytes bounds a bearer token, so a huge header costs nothing
	// to refuse.
	MaxTokenBytes = 8 << 10
	// MaxOwnerBytes bounds the sub claim, which becomes part of storage keys.
	MaxOwnerBytes = 256
	// Leeway is the clock skew tolerated on exp, nbf and iat.
	Leeway = 5 * time.Second
)

// HS256 verifies bearer tokens signed with HMAC-SHA256 and a shared secret.
// Only HS256 is accepted, so "none", RS256/HS256 confusion and other HMAC
// sizes are all refused; exp is required, nbf and iat are honoured.
type HS256 struct {
	secret []byte
	parser *jwt.Parser
}

// NewHS256 returns an HS256 authenticator for secret, which must be at least
// MinSecretBytes long.
func NewHS256(secret []byte) (*HS256, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("auth: the HS256 secret is %d bytes; at least %d are required", len(secret), MinSecretBytes)
	}
	return &HS256{
		secret: append([]byte(nil), secret...),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(Leeway),
		),
	}, nil
}

// Authenticate reads the bearer token from r's Authorization header and
// returns its subject.
func (h *HS256) Authenticate(r *http.Request) (string, error) {
	token, err := BearerToken(r)
	if err != nil {
		return "", err
	}
	return h.Verify(token)
}

// Verify checks a token's signature and claims and returns its subject.
func (h *HS256) Verify(token string) (string, error) {
	if len(token) > MaxTokenBytes {
		return "", unauthorized("token is larger than %d bytes", MaxTokenBytes)
	}
	var claims jwt.RegisteredClaims
	tok, err := h.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		// WithValidMethods has already refused any other algorithm; this is
		// the second lock on the same door.
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errors.New("unexpected signing method")
		}
		return h.secret, nil
	})
	if err != nil {
		return "", tokenError(tok, err)
	}
	if claims.Subject == "" {
		return "", unauthorized("token has no sub claim")
	}
	if !ValidOwner(claims.Subject) {
		return "", unauthorized("token sub claim must be 1 to %d bytes of printable UTF-8", MaxOwnerBytes)
	}
	return claims.Subject, nil
}

// tokenError turns a parser failure into a message that says which check
// failed, so a client can tell a stale token from a forged one.
func tokenError(tok *jwt.Token, err error) error {
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return unauthorized("token is malformed: it must be three base64url segments holding a JSON header and claims")
	}
	if tok != nil {
		alg, _ := tok.Header["alg"].(string)
		if alg != jwt.SigningMethodHS256.Alg() {
			if alg == "" {
				return unauthorized("token header names no alg; tokens must be signed with HS256")
			}
			return unauthorized("token algorithm %q is not accepted; tokens must be signed with HS256", recall.Truncate(alg, 20))
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return unauthorized("token signature is invalid")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return unauthorized("token has no exp claim; tokens must expire")
	case errors.Is(err, jwt.ErrTokenExpired):
		return unauthorized("token expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return unauthorized("token is not valid yet (nbf is in the future)")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return unauthorized("token was issued in the future (iat)")
	}
	return unauthorized("token is invalid")
}

// Mint returns an HS256 token for sub that expires after ttl: what
// `recall token` prints for calling the local runner.
func Mint(secret []byte, sub string, ttl time.Duration) (string, error) {
	if len(secret) < MinSecretBytes {
		return "", fmt.Errorf("auth: the HS256 secret is %d bytes; at least %d are required", len(secret), MinSecretBytes)
	}
	if !ValidOwner(sub) {
		return "", fmt.Errorf("auth: sub must be 1 to %d bytes of printable UTF-8", MaxOwnerBytes)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("auth: ttl must be positive, not %s", ttl)
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Subject:   sub,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return s, nil
}

// BearerToken returns the token of r's "Authorization: Bearer <token>"
// header. The scheme is matched case-insensitively; a missing, repeated,
// oversized or other-scheme header is EUNAUTHORIZED.
func BearerToken(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	switch {
	case len(vals) == 0 || vals[0] == "":
		return "", unauthorized("Authorization header is missing; send Authorization: Bearer <token>")
	case len(vals) > 1:
		return "", unauthorized("send one Authorization header, not %d", len(vals))
	}
	h := strings.TrimSpace(vals[0])
	if len(h) > MaxTokenBytes+len("Bearer ") {
		return "", unauthorized("token is larger than %d bytes", MaxTokenBytes)
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", unauthorized("Authorization header must use the Bearer scheme")
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		return "", unauthorized("bearer token is empty")
	}
	if len(token) > MaxTokenBytes {
		return "", unauthorized("token is larger than %d bytes", MaxTokenBytes)
	}
	return token, nil
}

// Gateway authenticates requests that API Gateway's JWT authorizer has
// already verified: it reads the sub claim the authorizer passed on in the
// request context (requestContext.authorizer.jwt.claims). It must only serve
// routes behind that authorizer; a request without claims is refused. The
// zero value is ready to use.
type Gateway struct{}

// Authenticate returns the verified sub claim of r.
func (Gateway) Authenticate(r *http.Request) (string, error) {
	rc, ok := core.GetAPIGatewayV2ContextFromContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.JWT == nil || len(rc.Authorizer.JWT.Claims) == 0 {
		return "", unauthorized("request carries no verified token claims; send Authorization: Bearer <token>")
	}
	sub := rc.Authorizer.JWT.Claims["sub"]
	if sub == "" {
		return "", unauthorized("token has no sub claim")
	}
	if !ValidOwner(sub) {
		return "", unauthorized("token sub claim must be 1 to %d bytes of printable UTF-8", MaxOwnerBytes)
	}
	return sub, nil
}

// ValidOwner reports whether sub can serve as an owner id: 1 to
// MaxOwnerBytes of valid UTF-8 with no control characters, since stores use
// it in keys and logs print it.
func ValidOwner(sub string) bool {
	return sub != "" && len(sub) <= MaxOwnerBytes && utf8.ValidString(sub) && !strings.ContainsFunc(sub, unicode.IsControl)
}

func unauthorized(format string, args ...any) error {
	return recall.Errorf(recall.EUNAUTHORIZED, format, args...)
}
