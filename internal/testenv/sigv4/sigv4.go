// Package sigv4 checks AWS Signature Version 4 on requests that reach a
// fake AWS service, the way the service's front door would: the credential
// scope must name the expected key, region and service, the clock must be
// within 15 minutes, the payload hash must match, and the signature,
// recomputed over the signed headers with the known secret, must be the
// one sent. Fakes that speak a real wire format (bedrocktest's Converse and
// InvokeModel, s3vectest) share it so a client signing for the wrong
// service or region fails in tests as it would against AWS.
package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Expect is what a request's signature must have been made with.
type Expect struct {
	Service, Region              string
	AccessKeyID, SecretAccessKey string
}

// Refusal is the error AWS answers an unsigned or badly signed request
// with: an HTTP status and an error code ("InvalidSignatureException", …).
type Refusal struct {
	Status  int
	Code    string
	Message string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

// Check verifies r (whose body was read into body) and returns nil, or the
// refusal AWS would send.
func Check(r *http.Request, body []byte, want Expect) *Refusal {
	refuse := func(status int, code, format string, args ...any) *Refusal {
		return &Refusal{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
	}
	fields, scope, ref := parseAuthorization(r.Header.Get("Authorization"))
	if ref != nil {
		return ref
	}
	akid, date, region, service, term := scope[0], scope[1], scope[2], scope[3], scope[4]
	if akid != want.AccessKeyID {
		return refuse(http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	if service != want.Service || term != "aws4_request" {
		return refuse(http.StatusForbidden, "InvalidSignatureException", "Credential should be scoped to correct service: '%s', not %q.", want.Service, service)
	}
	if region != want.Region {
		return refuse(http.StatusForbidden, "InvalidSignatureException", "Credential should be scoped to a valid region, not %q; this endpoint serves %q.", region, want.Region)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	signingTime, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, date) {
		return refuse(http.StatusForbidden, "InvalidSignatureException", "X-Amz-Date is missing or does not match the credential scope date")
	}
	if d := time.Since(signingTime); d > 15*time.Minute || d < -15*time.Minute {
		return refuse(http.StatusForbidden, "InvalidSignatureException", "Signature expired: the request time is more than 15 minutes from the server time")
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return refuse(http.StatusForbidden, "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}

	// Rebuild the request with only the signed headers and sign it again.
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	again := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}, ContentLength: r.ContentLength}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h == "host" || h == "content-length" {
			continue
		}
		if vs := r.Header.Values(h); len(vs) > 0 {
			again.Header[http.CanonicalHeaderKey(h)] = vs
		}
	}
	creds := aws.Credentials{AccessKeyID: want.AccessKeyID, SecretAccessKey: want.SecretAccessKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, payloadHash, service, region, signingTime); err != nil {
		return refuse(http.StatusInternalServerError, "InternalServerException", "fake could not sign: %v", err)
	}
	wantAuthz := again.Header.Get("Authorization")
	_, wantSig, _ := strings.Cut(wantAuthz, "Signature=")
	if subtle.ConstantTimeCompare([]byte(wantSig), []byte(fields["Signature"])) != 1 {
		return refuse(http.StatusForbidden, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	if !strings.Contains(wantAuthz, "SignedHeaders="+fields["SignedHeaders"]+",") {
		return refuse(http.StatusForbidden, "InvalidSignatureException", "signed header list differs: client %s, fake %s", fields["SignedHeaders"], wantAuthz)
	}
	return nil
}

// Scope returns the access key ID and region that r's SigV4 Authorization
// header names, ok false when it has none well formed: what a fake records
// of who called it and for where, whether or not the signature holds.
func Scope(r *http.Request) (accessKeyID, region string, ok bool) {
	_, scope, ref := parseAuthorization(r.Header.Get("Authorization"))
	if ref != nil {
		return "", "", false
	}
	return scope[0], scope[2], true
}

// parseAuthorization splits a SigV4 Authorization header into its fields
// (Credential, SignedHeaders, Signature) and its credential scope (key,
// date, region, service, terminator), or returns the refusal AWS sends for
// a header that is missing or not SigV4.
func parseAuthorization(authz string) (map[string]string, []string, *Refusal) {
	if authz == "" {
		return nil, nil, &Refusal{Status: http.StatusForbidden, Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"}
	}
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(authz, algo) {
		return nil, nil, &Refusal{Status: http.StatusBadRequest, Code: "IncompleteSignatureException", Message: "Authorization header requires AWS4-HMAC-SHA256"}
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(authz, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return nil, nil, &Refusal{Status: http.StatusBadRequest, Code: "IncompleteSignatureException", Message: "Authorization header requires Credential, SignedHeaders and Signature"}
	}
	return fields, scope, nil
}
