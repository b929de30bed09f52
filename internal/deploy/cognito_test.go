package deploy

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/apigatewayv2"
	"github.com/awslabs/goformation/v7/cloudformation/cognito"
)

// The API's own URL, where the web app is served and sign-in returns.
var apiURL = fmt.Sprintf("https://%s.execute-api.%s.amazonaws.com/", symbol("HttpApi"), fakeRegion)

// TestSignInCognitoExactlyWithoutIssuer: with JwtIssuer empty the stack
// creates a Cognito user pool and the authorizer trusts it; with an issuer
// given, nothing of Cognito exists and the authorizer trusts that issuer.
// Both cases evaluate the template's Conditions.
func TestSignInCognitoExactlyWithoutIssuer(t *testing.T) {
	t.Parallel()
	const issuer, audience = "https://login.example.com/", "recall-web"
	tests := []struct {
		name       string
		params     map[string]string
		cognito    bool
		issuer     string
		audience   []string
		ruleFailed bool
	}{
		{"defaults", nil, true, fmt.Sprintf("https://cognito-idp.%s.amazonaws.com/%s", fakeRegion, symbol("UserPool")), []string{symbol("UserPoolClient")}, false},
		{"issuer given", map[string]string{"JwtIssuer": issuer, "JwtAudience": audience}, false, issuer, []string{audience}, false},
		{"issuer without audience", map[string]string{"JwtIssuer": issuer}, false, issuer, []string{""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := deployment{region: fakeRegion, params: tt.params}
			failed := newRuleEvaluator(t, appTemplate, d).failures()
			if got := slices.ContainsFunc(failed, func(f string) bool { return strings.HasPrefix(f, "AudienceWithIssuer:") }); got != tt.ruleFailed {
				t.Errorf("rule failures %v; want AudienceWithIssuer failed: %v", failed, tt.ruleFailed)
			}
			if tt.ruleFailed {
				return
			}
			s := loadStackAs(t, appTemplate, appStackName, d)
			var present []string
			for _, id := range resourcesUnder(t, s, d) {
				if strings.HasPrefix(s.tpl.Resources[id].AWSCloudFormationType(), "AWS::Cognito::") {
					present = append(present, id)
				}
			}
			want := []string{"UserPool", "UserPoolClient", "UserPoolDomain"}
			if !tt.cognito {
				want = nil
			}
			if !slices.Equal(present, want) {
				t.Errorf("Cognito resources %v; want %v", present, want)
			}
			a := resources[*apigatewayv2.Authorizer](s)["JwtAuthorizer"]
			if a == nil || a.JwtConfiguration == nil {
				t.Fatal("no JwtAuthorizer")
			}
			if got := deref(a.JwtConfiguration.Issuer); got != tt.issuer {
				t.Errorf("authorizer issuer %q; want %q", got, tt.issuer)
			}
			if got := a.JwtConfiguration.Audience; !slices.Equal(got, tt.audience) {
				t.Errorf("authorizer audience %v; want %v", got, tt.audience)
			}
			var outputs []string
			for id, o := range s.tpl.Outputs {
				if o.Condition == nil || conditionHolds(t, appTemplate, d, *o.Condition) {
					outputs = append(outputs, id)
				}
				if id == "JwtIssuerUrl" && str(o.Value) != tt.issuer {
					t.Errorf("output JwtIssuerUrl %q; want the authorizer's issuer %q", str(o.Value), tt.issuer)
				}
			}
			for _, id := range []string{"CognitoUserPoolId", "CognitoClientId", "SignInUrl"} {
				if slices.Contains(outputs, id) != tt.cognito {
					t.Errorf("output %s present: %v; want %v", id, !tt.cognito, tt.cognito)
				}
			}
		})
	}
}

// TestSignInCognitoClient: a public client for a browser app (authorization
// code with PKCE, no secret, no password flows), returning to the API's own
// URL and any extra callback URLs given.
func TestSignInCognitoClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params map[string]string
		urls   []string
		domain string
	}{
		{"defaults", nil, []string{apiURL}, appStackName + "-" + fakeAccount},
		{"extra callback and own prefix", map[string]string{"SignInExtraCallbackUrls": "http://localhost:8000/", "SignInDomainPrefix": "recall-team"},
			[]string{apiURL, "http://localhost:8000/"}, "recall-team"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := loadStackAs(t, appTemplate, appStackName, deployment{region: fakeRegion, params: tt.params})
			c := resources[*cognito.UserPoolClient](s)["UserPoolClient"]
			if c == nil {
				t.Fatal("no UserPoolClient")
			}
			if c.UserPoolId != symbol("UserPool") || deref(c.GenerateSecret) || !deref(c.AllowedOAuthFlowsUserPoolClient) {
				t.Errorf("client of %s, secret %v, OAuth on %v; want a public OAuth client of UserPool", c.UserPoolId, deref(c.GenerateSecret), deref(c.AllowedOAuthFlowsUserPoolClient))
			}
			if !slices.Equal(c.AllowedOAuthFlows, []string{"code"}) {
				t.Errorf("OAuth flows %v; want the authorization code flow alone (with PKCE; implicit hands tokens to the URL)", c.AllowedOAuthFlows)
			}
			if got := slices.Sorted(slices.Values(c.AllowedOAuthScopes)); !slices.Equal(got, []string{"email", "openid", "profile"}) {
				t.Errorf("scopes %v; want openid email profile", got)
			}
			if !slices.Equal(c.SupportedIdentityProviders, []string{"COGNITO"}) {
				t.Errorf("identity providers %v; want the pool's own users", c.SupportedIdentityProviders)
			}
			for _, f := range c.ExplicitAuthFlows {
				if strings.Contains(f, "PASSWORD") || strings.Contains(f, "ADMIN") {
					t.Errorf("auth flow %s lets a client send passwords to the API; the hosted pages sign people in", f)
				}
			}
			if !slices.Equal(c.CallbackURLs, tt.urls) || !slices.Equal(c.LogoutURLs, tt.urls) {
				t.Errorf("callback %v, logout %v; want %v", c.CallbackURLs, c.LogoutURLs, tt.urls)
			}
			dom := resources[*cognito.UserPoolDomain](s)["UserPoolDomain"]
			if dom == nil || dom.Domain != tt.domain || dom.UserPoolId != symbol("UserPool") {
				t.Fatalf("user pool domain %+v; want prefix %q on UserPool", dom, tt.domain)
			}
			pool := resources[*cognito.UserPool](s)["UserPool"]
			if pool == nil || pool.AdminCreateUserConfig == nil || !deref(pool.AdminCreateUserConfig.AllowAdminCreateUserOnly) {
				t.Error("the user pool lets anyone sign up; an administrator adds users")
			}
			if pool != nil && (pool.AWSCloudFormationDeletionPolicy != "Retain" || pool.AWSCloudFormationUpdateReplacePolicy != "Retain") {
				t.Error("deleting or replacing the stack would delete every account; retain the pool like the table")
			}
			// Ref of a UserPoolDomain is its prefix; the ids are made up.
			deployed := strings.NewReplacer(symbol("UserPoolDomain"), tt.domain, symbol("UserPoolClient"), "client1", symbol("HttpApi"), "api1")
			u, err := url.Parse(deployed.Replace(str(s.tpl.Outputs["SignInUrl"].Value)))
			if err != nil {
				t.Fatalf("SignInUrl: %v", err)
			}
			q := u.Query()
			if u.Host != tt.domain+".auth."+fakeRegion+".amazoncognito.com" || q.Get("client_id") != "client1" ||
				q.Get("response_type") != "code" || q.Get("redirect_uri") != deployed.Replace(apiURL) {
				t.Errorf("SignInUrl %s; want the hosted pages of %s for the client, returning a code to %s", u, tt.domain, apiURL)
			}
		})
	}
	// A prefix the deployer types must be one Cognito accepts.
	p := appStack(t).tpl.Parameters["SignInDomainPrefix"]
	re := regexp.MustCompile(deref(p.AllowedPattern))
	for v, ok := range map[string]bool{"": true, "recall-team": true, "recall7": true, "Recall": false, "-recall": false, "recall-": false, "re.call": false} {
		if re.MatchString(v) != ok {
			t.Errorf("SignInDomainPrefix %q accepted: %v; want %v", v, !ok, ok)
		}
	}
}
