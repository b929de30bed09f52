package deploy

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/apigatewayv2"
	"github.com/awslabs/goformation/v7/cloudformation/cognito"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"

	"recall/internal/config"
	"recall/internal/httpapi"
)

// signInCase is one way of deploying sign-in, and the web app's
// configuration it must produce (deployed resources still symbolic).
type signInCase struct {
	name   string
	params map[string]string
	want   config.Web
}

// The Cognito pool's issuer as the authorizer names it.
var cognitoIssuer = fmt.Sprintf("https://cognito-idp.%s.amazonaws.com/%s", fakeRegion, symbol("UserPool"))

var signInCases = []signInCase{
	{"cognito", nil, config.Web{
		Issuer: cognitoIssuer, ClientID: symbol("UserPoolClient"), Scopes: []string{"openid", "email", "profile"},
		TokenEndpoint: fmt.Sprintf("https://%s.auth.%s.amazoncognito.com/oauth2/token", symbol("UserPoolDomain"), fakeRegion),
		TokenUse:      "access",
	}},
	// A provider whose tokens name the web app's client as audience: the
	// client is the first audience, its token endpoint on the issuer's
	// origin.
	{"own provider", map[string]string{"JwtIssuer": "https://login.example.com/", "JwtAudience": "recall-web,recall-cli"}, config.Web{
		Issuer: "https://login.example.com/", ClientID: "recall-web", Scopes: []string{"openid"}, TokenUse: "access",
	}},
	// A provider whose token endpoint is on another origin than its
	// issuer, and whose ID token (audience: the client) the API trusts.
	{"own provider, all given", map[string]string{
		"JwtIssuer": "https://id.example.org", "JwtAudience": "recall-web-1234",
		"WebClientId": "recall-web-1234", "WebScopes": "openid email",
		"WebTokenEndpoint": "https://token.example.org/oauth2/token", "WebTokenUse": "id",
	}, config.Web{
		Issuer: "https://id.example.org", ClientID: "recall-web-1234", Scopes: []string{"openid", "email"},
		TokenEndpoint: "https://token.example.org/oauth2/token", TokenUse: "id",
	}},
}

// webEnv is the web function's environment as d deploys it.
func webEnv(t *testing.T, d deployment) map[string]string {
	t.Helper()
	f, ok := appFunctionsOf(t, loadStackAs(t, appTemplate, appStackName, d))[httpapi.FunctionWeb]
	if !ok {
		t.Fatal("template.yaml has no WebFunction")
	}
	return f.Env
}

// readWeb reads env as the web function's config.FromEnv would.
func readWeb(t *testing.T, env map[string]string) config.Web {
	t.Helper()
	cfg, err := config.FromLookup(config.Lambda, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("config refuses the web function's environment: %v", err)
	}
	return cfg.Web
}

// TestWebSignInConfig: the web function is told to sign in against the
// issuer the API's authorizer trusts, as a client the provider knows, with
// scopes that client may ask for and a token endpoint on the domain that
// serves the pool's sign-in pages, and the page's return address (its own
// origin + "/") is the client's callback URL. Both branches of UseCognito.
func TestWebSignInConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range signInCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := appDeployment(t, fakeRegion, tt.params)
			s := loadStackAs(t, appTemplate, appStackName, d)
			got := readWeb(t, webEnv(t, d))
			if !equalWeb(got, tt.want) {
				t.Fatalf("web sign-in configuration\n got %+v\nwant %+v", got, tt.want)
			}
			a := resources[*apigatewayv2.Authorizer](s)["JwtAuthorizer"]
			if a == nil || a.JwtConfiguration == nil || deref(a.JwtConfiguration.Issuer) != got.Issuer {
				t.Errorf("the page signs in against %q; the authorizer trusts %+v", got.Issuer, a)
			}
			if got.Issuer != str(s.tpl.Outputs["JwtIssuerUrl"].Value) {
				t.Errorf("the page signs in against %q; output JwtIssuerUrl says %q", got.Issuer, str(s.tpl.Outputs["JwtIssuerUrl"].Value))
			}
			webApp := str(s.tpl.Outputs["WebAppUrl"].Value)
			if webApp != apiURL {
				t.Errorf("output WebAppUrl %q; want the API's root %q, where the page is served", webApp, apiURL)
			}
			c := resources[*cognito.UserPoolClient](s)["UserPoolClient"]
			if tt.params["JwtIssuer"] != "" {
				return
			}
			// The Cognito branch: everything comes from the pool.
			if c == nil {
				t.Fatal("no UserPoolClient")
			}
			if !slices.Equal(a.JwtConfiguration.Audience, []string{got.ClientID}) {
				t.Errorf("the page signs in as %q; the authorizer accepts %v", got.ClientID, a.JwtConfiguration.Audience)
			}
			if !slices.Equal(slices.Sorted(slices.Values(got.Scopes)), slices.Sorted(slices.Values(c.AllowedOAuthScopes))) {
				t.Errorf("the page asks for scopes %v; the client allows %v (Cognito refuses any other)", got.Scopes, c.AllowedOAuthScopes)
			}
			// The page sends redirect_uri = its own origin + "/"; served at
			// the API's root, that is WebAppUrl, which must be a callback.
			if !slices.Contains(c.CallbackURLs, webApp) {
				t.Errorf("callback URLs %v lack %q, the page's redirect_uri", c.CallbackURLs, webApp)
			}
			// The token endpoint is on the pool's hosted domain, the same
			// host the SignInUrl output sends people to.
			te, err := url.Parse(deployedNames.Replace(got.TokenEndpoint))
			signIn, err2 := url.Parse(deployedNames.Replace(str(s.tpl.Outputs["SignInUrl"].Value)))
			if err != nil || err2 != nil {
				t.Fatalf("token endpoint %q (%v), SignInUrl (%v)", got.TokenEndpoint, err, err2)
			}
			if te.Host != signIn.Host || te.Path != "/oauth2/token" || !strings.Contains(got.TokenEndpoint, symbol("UserPoolDomain")) {
				t.Errorf("token endpoint %q; want /oauth2/token on the pool's hosted domain %q", got.TokenEndpoint, signIn.Host)
			}
			if !strings.Contains(signIn.RawQuery, "scope="+strings.Join(got.Scopes, "+")) {
				t.Errorf("SignInUrl %s asks for other scopes than the page (%v)", signIn, got.Scopes)
			}
		})
	}
}

func equalWeb(a, b config.Web) bool {
	return a.Issuer == b.Issuer && a.ClientID == b.ClientID && slices.Equal(a.Scopes, b.Scopes) &&
		a.TokenEndpoint == b.TokenEndpoint && a.TokenUse == b.TokenUse
}

// TestTranslatedWebEnvironment: what CloudFormation receives after SAM's
// transform (Globals merged into the function) gives the web function the
// same environment, under both branches of UseCognito, and no secret.
func TestTranslatedWebEnvironment(t *testing.T) {
	t.Parallel()
	out, err := json.Marshal(samTranslated(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range signInCases {
		t.Run(tt.name, func(t *testing.T) {
			d := appDeployment(t, fakeRegion, tt.params)
			tpl, err := parseTemplateWith(out, &evaluator{stackName: appStackName, region: d.region, overrides: d.params})
			if err != nil {
				t.Fatalf("goformation cannot parse the translated template: %v", err)
			}
			f, ok := tpl.Resources["WebFunction"].(*lambda.Function)
			if !ok || f.Environment == nil {
				t.Fatalf("the translated template has no AWS::Lambda::Function WebFunction with an environment")
			}
			got, want := f.Environment.Variables, webEnv(t, d)
			if !maps.Equal(got, want) {
				t.Errorf("translated environment\n got %v\nwant %v", got, want)
			}
			if w := readWeb(t, got); !equalWeb(w, tt.want) {
				t.Errorf("translated web sign-in configuration\n got %+v\nwant %+v", w, tt.want)
			}
			for k, v := range got {
				if strings.Contains(v, "{{resolve:") || k == "RECALL_CURSOR_KEY" || k == "REDIS_URL" {
					t.Errorf("the web function is given %s, a secret it never uses", k)
				}
			}
		})
	}
}

// deployedNames names the Cognito resources as AWS would (a pool id, a
// client id, the domain prefix Ref gives), so URLs built from them parse.
var deployedNames = strings.NewReplacer(symbol("UserPool"), fakeRegion+"_AbCdEfGhI", symbol("UserPoolClient"), "4example5client6id7",
	symbol("UserPoolDomain"), appStackName+"-"+fakeAccount, symbol("HttpApi"), "k3x9q2v7mb")

// deployedWebEnv is webEnv with the deployed resources named as AWS would
// name them, so the web app accepts the URLs.
func deployedWebEnv(t *testing.T, d deployment) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range webEnv(t, d) {
		if strings.HasPrefix(k, "RECALL_OIDC_") {
			v = deployedNames.Replace(v)
		} else {
			v = placeholders(v)
		}
		if strings.Contains(v, "${") {
			t.Fatalf("%s=%q names a deployed resource this test does not replace", k, v)
		}
		env[k] = v
	}
	env["RECALL_LOG_LEVEL"] = "warn"
	return env
}

// webResponse is an API Gateway payload 2.0 response with its body decoded
// as API Gateway would send it to the browser.
type webResponse struct {
	httpResponse
	IsBase64Encoded bool `json:"isBase64Encoded"`
	raw             []byte
}

func decodeWeb(t *testing.T, raw []byte) webResponse {
	t.Helper()
	var r webResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("not an API Gateway response: %v: %s", err, raw)
	}
	r.raw = []byte(r.Body)
	if r.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(r.Body)
		if err != nil {
			t.Fatalf("isBase64Encoded, but the body is not base64: %v", err)
		}
		r.raw = b
	}
	return r
}

// header is a response header by its canonical name.
func (r webResponse) header(k string) string { return r.Headers[http.CanonicalHeaderKey(k)] }

// content is the body as the browser reads it, gunzipped if it was sent so.
func (r webResponse) content(t *testing.T) string {
	t.Helper()
	if r.header("Content-Encoding") != "gzip" {
		return string(r.raw)
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.raw))
	if err != nil {
		t.Fatalf("Content-Encoding gzip, but the body is not gzip: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return string(b)
}

// webRequest is the sample event for route with path and headers changed.
func webRequest(t *testing.T, sample, path string, headers map[string]string) []byte {
	t.Helper()
	ev := sampleEvent(t, sample)
	ev["rawPath"] = path
	rc := ev["requestContext"].(map[string]any)
	h := maps.Clone(rc["http"].(map[string]any))
	h["path"] = path
	rc["http"] = h
	hd := maps.Clone(ev["headers"].(map[string]any))
	for k, v := range headers {
		if v == "" {
			delete(hd, k)
		} else {
			hd[k] = v
		}
	}
	ev["headers"] = hd
	return mustJSON(t, ev)
}

var moduleScript = regexp.MustCompile(`<script type="module" src="(/assets/[0-9a-f]+/)js/main\.js"></script>`)

// TestWebFunctionUnderEmulator runs the web function, built as for Lambda,
// under the Runtime Interface Emulator with the environment template.yaml
// gives it for each way of signing in, and checks what API Gateway would
// pass to the browser: the page and an asset gzipped (so base64-encoded in
// the response), the same asset plain for a client that does not take
// gzip, a 304 for a revalidation, /config.json naming the issuer and client,
// a Content-Security-Policy that lets the page reach the issuer and the
// token endpoint and nothing else, and the OpenAPI document. Without an
// issuer it refuses to start.
func TestWebFunctionUnderEmulator(t *testing.T) {
	requireEmulator(t)
	bin := buildFunctions(t, runtime.GOARCH)[httpapi.FunctionWeb]
	figs := &figures{}
	defer func() {
		t.Logf("under the emulator (linux/%s):\n\t%s", runtime.GOARCH, strings.Join(figs.rows, "\n\t"))
	}()

	for _, tt := range signInCases {
		t.Run(tt.name, func(t *testing.T) {
			env := deployedWebEnv(t, appDeployment(t, fakeRegion, tt.params))
			want := readWeb(t, env)
			e := startEmulator(t, "web", bin, env)

			raw, first := coldInvoke(t, e, mustJSON(t, sampleEvent(t, "web-page")))
			if tt.name == "cognito" {
				figs.add(e.name, first)
			}
			page := decodeWeb(t, raw)
			if page.StatusCode != http.StatusOK || page.header("Content-Encoding") != "gzip" || !page.IsBase64Encoded {
				t.Fatalf("GET / (gzip accepted): status %d, encoding %q, base64 %v; want 200, gzip, base64 (API Gateway sends a body that is not UTF-8 only base64-encoded)",
					page.StatusCode, page.header("Content-Encoding"), page.IsBase64Encoded)
			}
			html := page.content(t)
			m := moduleScript.FindStringSubmatch(html)
			if m == nil {
				t.Fatalf("the page loads no module script:\n%s", html)
			}
			if cc := page.header("Cache-Control"); cc != "no-cache" {
				t.Errorf("page Cache-Control %q; want no-cache", cc)
			}
			csp := page.header("Content-Security-Policy")
			connect := cspDirective(csp, "connect-src")
			origins := []string{"'self'", originOf(t, want.Issuer)}
			if want.TokenEndpoint != "" && originOf(t, want.TokenEndpoint) != origins[1] {
				origins = append(origins, originOf(t, want.TokenEndpoint))
			}
			if !slices.Equal(connect, origins) {
				t.Errorf("connect-src %v; want %v (the page, the issuer's discovery, the token endpoint)", connect, origins)
			}
			if s := cspDirective(csp, "script-src"); !slices.Equal(s, []string{"'self'"}) {
				t.Errorf("script-src %v; want 'self' alone", s)
			}

			// Revalidation: 304, no body, the same tag.
			raw = e.invoke(t, webRequest(t, "web-page", "/", map[string]string{"if-none-match": page.header("ETag")}))
			if r := decodeWeb(t, raw); r.StatusCode != http.StatusNotModified || len(r.raw) != 0 || r.header("ETag") != page.header("ETag") {
				t.Errorf("GET / If-None-Match: status %d, %d body bytes, ETag %q; want 304, none, %q", r.StatusCode, len(r.raw), r.header("ETag"), page.header("ETag"))
			}

			// An asset: gzipped and immutable; plain (not base64) without gzip.
			asset := m[1] + "js/poll.js"
			gz := decodeWeb(t, e.invoke(t, webRequest(t, "web-page", asset, nil)))
			plain := decodeWeb(t, e.invoke(t, webRequest(t, "web-page", asset, map[string]string{"accept-encoding": ""})))
			if gz.StatusCode != 200 || !gz.IsBase64Encoded || plain.StatusCode != 200 || plain.IsBase64Encoded || plain.header("Content-Encoding") != "" {
				t.Errorf("GET %s: gzip %d base64 %v; plain %d base64 %v encoding %q", asset, gz.StatusCode, gz.IsBase64Encoded, plain.StatusCode, plain.IsBase64Encoded, plain.header("Content-Encoding"))
			}
			if gz.content(t) != plain.content(t) || !strings.Contains(plain.content(t), "export function watch") {
				t.Errorf("GET %s: the gzipped and plain bodies differ, or are not the script", asset)
			}
			if cc := gz.header("Cache-Control"); !strings.Contains(cc, "immutable") {
				t.Errorf("asset Cache-Control %q; want immutable", cc)
			}
			raw = e.invoke(t, webRequest(t, "web-page", asset, map[string]string{"if-none-match": gz.header("ETag")}))
			if r := decodeWeb(t, raw); r.StatusCode != http.StatusNotModified || len(r.raw) != 0 {
				t.Errorf("asset If-None-Match: status %d, %d body bytes; want 304 and none", r.StatusCode, len(r.raw))
			}

			// /config.json: how the page signs in.
			cj := decodeWeb(t, e.invoke(t, mustJSON(t, sampleEvent(t, "web-config"))))
			var pub struct {
				Auth     string   `json:"auth"`
				Issuer   string   `json:"issuer"`
				ClientID string   `json:"client_id"`
				Scopes   []string `json:"scopes"`
				TokenUse string   `json:"token_use"`
				Redirect string   `json:"redirect_uri"`
			}
			if err := json.Unmarshal([]byte(cj.content(t)), &pub); err != nil || cj.StatusCode != 200 {
				t.Fatalf("GET /config.json: %d %v: %s", cj.StatusCode, err, cj.content(t))
			}
			if pub.Auth != "oidc" || pub.Issuer != want.Issuer || pub.ClientID != want.ClientID || !slices.Equal(pub.Scopes, want.Scopes) || pub.TokenUse != want.TokenUse {
				t.Errorf("config.json %+v; want oidc with %+v", pub, want)
			}
			if pub.Redirect != "" {
				t.Errorf("config.json sets redirect_uri %q; the page returns to its own origin + \"/\", the client's callback", pub.Redirect)
			}

			doc := decodeWeb(t, e.invoke(t, webRequest(t, "web-config", "/api/openapi.json", nil)))
			if doc.StatusCode != 200 || doc.content(t) != string(httpapi.OpenAPI()) {
				t.Errorf("GET /api/openapi.json: %d, %d bytes; want the OpenAPI document", doc.StatusCode, len(doc.content(t)))
			}
		})
	}

	t.Run("no issuer", func(t *testing.T) {
		env := deployedWebEnv(t, appDeployment(t, fakeRegion, nil))
		for k := range env {
			if strings.HasPrefix(k, "RECALL_OIDC_") {
				delete(env, k)
			}
		}
		e := startEmulator(t, "web", bin, env)
		resp, err := http.Post("http://"+e.addr+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(mustJSON(t, sampleEvent(t, "web-page"))))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || !strings.Contains(e.out.String(), "RECALL_OIDC_ISSUER is not set") {
			t.Errorf("web without RECALL_OIDC_ISSUER: the emulator answered %d; want an init failure naming the variable:\n%s", resp.StatusCode, e.out.String())
		}
	})
}

// cspDirective returns the sources of directive name in policy.
func cspDirective(policy, name string) []string {
	for d := range strings.SplitSeq(policy, ";") {
		f := strings.Fields(d)
		if len(f) > 0 && f[0] == name {
			return f[1:]
		}
	}
	return nil
}

func originOf(t *testing.T, s string) string {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		t.Fatalf("%q is not an absolute URL", s)
	}
	return u.Scheme + "://" + u.Host
}
