package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/apigatewayv2"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"
	"github.com/awslabs/goformation/v7/cloudformation/logs"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
)

// functionOf names the function a "${XFunction.Arn}" or "${XFunction}"
// symbol refers to ("create"), or "".
func functionOf(sym string) string {
	id := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(sym, "${"), "}"), ".Arn")
	if !strings.HasSuffix(id, "Function") || len(id) == len("Function") {
		return ""
	}
	return strings.ToLower(id[:1]) + strings.TrimSuffix(id[1:], "Function")
}

// apiRoutes reads the HTTP API's routes from s: each route's method and
// path, the function its integration invokes, and whether it is public.
// It fails on anything the deployed API would get wrong: a second API, an
// imported body, an integration that is not a payload 2.0 Lambda proxy, a
// route on another API or authorized any other way than by the JWT
// authorizer or not at all.
func apiRoutes(t *testing.T, s *stack) []route {
	t.Helper()
	if n := len(resources[*serverless.HttpApi](s)) + len(resources[*serverless.Api](s)); n > 0 {
		t.Errorf("%d SAM APIs: the HTTP API is written out as AWS::ApiGatewayV2 resources (see template.yaml)", n)
	}
	apis := resources[*apigatewayv2.Api](s)
	api, ok := apis["HttpApi"]
	if len(apis) != 1 || !ok {
		t.Fatalf("want exactly one AWS::ApiGatewayV2::Api named HttpApi; got %v", slices.Collect(maps.Keys(apis)))
	}
	if deref(api.ProtocolType) != "HTTP" || api.Body != nil || api.BodyS3Location != nil || api.Target != nil {
		t.Errorf("HttpApi: protocol %q, body %v, quick-create target %v; want an HTTP API with nothing imported", deref(api.ProtocolType), api.Body != nil || api.BodyS3Location != nil, deref(api.Target))
	}
	target := map[string]string{} // "integrations/${Id}" -> function
	for id, in := range resources[*apigatewayv2.Integration](s) {
		fn := functionOf(deref(in.IntegrationUri))
		if in.ApiId != symbol("HttpApi") || in.IntegrationType != "AWS_PROXY" || deref(in.PayloadFormatVersion) != "2.0" || fn == "" {
			t.Errorf("%s: API %s, type %s, payload %q, uri %q; want a payload 2.0 Lambda proxy to a function of the template",
				id, in.ApiId, in.IntegrationType, deref(in.PayloadFormatVersion), deref(in.IntegrationUri))
			continue
		}
		target["integrations/"+symbol(id)] = fn
	}
	var out []route
	for id, r := range resources[*apigatewayv2.Route](s) {
		method, path, ok := strings.Cut(r.RouteKey, " ")
		fn := target[deref(r.Target)]
		if r.ApiId != symbol("HttpApi") || !ok || fn == "" {
			t.Errorf("%s: API %s, key %q, target %q; want a route of HttpApi to one of its integrations", id, r.ApiId, r.RouteKey, deref(r.Target))
			continue
		}
		if len(path) > 1 && strings.HasSuffix(path, "/") {
			// HTTP API route keys cannot end in "/"; API Gateway routes
			// ".../" to the route without it, and the handler answers both.
			t.Errorf("%s: path %q ends in a slash", id, path)
		}
		public := false
		switch auth := deref(r.AuthorizationType); {
		case auth == "NONE" && r.AuthorizerId == nil:
			public = true
		case auth == "JWT" && deref(r.AuthorizerId) == symbol("JwtAuthorizer"):
		default:
			t.Errorf("%s: AuthorizationType %q, authorizer %q; want JWT with JwtAuthorizer, or NONE for a public route", id, auth, deref(r.AuthorizerId))
		}
		out = append(out, route{Method: method, Path: path, Function: fn, Public: public})
	}
	return out
}

// glob turns a SourceArn pattern into a regexp: "*" matches anything.
func glob(pattern string) *regexp.Regexp {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

// TestApiInvokePermissions: API Gateway may invoke each function on that
// function's routes of this API, and nowhere else.
func TestApiInvokePermissions(t *testing.T) {
	t.Parallel()
	s := appStack(t)
	perms := map[string][]*regexp.Regexp{} // function -> SourceArn patterns
	prefix := fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/", fakeRegion, fakeAccount, symbol("HttpApi"))
	for id, p := range resources[*lambda.Permission](s) {
		if p.Principal != "apigateway.amazonaws.com" {
			continue
		}
		fn := functionOf(p.FunctionName)
		if p.Action != "lambda:InvokeFunction" || fn == "" || !strings.HasPrefix(deref(p.SourceArn), prefix) {
			t.Errorf("%s: %s on %q from %q; want lambda:InvokeFunction on a template function from this API only (%s…)", id, p.Action, p.FunctionName, deref(p.SourceArn), prefix)
			continue
		}
		perms[fn] = append(perms[fn], glob(deref(p.SourceArn)))
	}
	routes := apiRoutes(t, s)
	for _, r := range routes {
		// What API Gateway puts in SourceArn: api/stage/method/path, the
		// path as requested or as the route writes it; either must match.
		// The root route's path is "/", so its ARN ends in "GET/".
		requested := strings.NewReplacer("{id}", "01JTESTID", "{proxy+}", "0123abcd/js/main.js").Replace(r.Path)
		for _, arn := range []string{prefix + "$default/" + r.Method + requested, prefix + "$default/" + r.Method + r.Path} {
			for fn, pats := range perms {
				allowed := slices.ContainsFunc(pats, func(re *regexp.Regexp) bool { return re.MatchString(arn) })
				if allowed != (fn == r.Function) {
					t.Errorf("route %s: function %s may be invoked for %s: %v; want only %s", r, fn, arn, allowed, r.Function)
				}
			}
		}
		if len(perms[r.Function]) == 0 {
			t.Errorf("route %s: no permission lets API Gateway invoke %s", r, r.Function)
		}
	}
	// Nothing beyond the routes: a POST to the health function is refused.
	for fn, pats := range perms {
		for _, mp := range []string{"DELETE/api/conversations", "PUT/api/conversations", "PATCH/api/conversations",
			"GET/index.html", "POST/", "POST/config.json", "GET/api/openapi.yaml"} {
			arn := prefix + "$default/" + mp
			if slices.ContainsFunc(pats, func(re *regexp.Regexp) bool { return re.MatchString(arn) }) {
				t.Errorf("%s may be invoked for %s, which is no route", fn, arn)
			}
		}
	}
}

// accessLogVar is a $context variable in an access log format.
var accessLogVar = regexp.MustCompile(`^\$context\.[A-Za-z.]+$`)

// TestApiStageThrottlingAndAccessLogs: every route is throttled by default
// at the rate and burst the parameters give, and every request is logged as
// one JSON line with what an operator needs, never a header.
func TestApiStageThrottlingAndAccessLogs(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, s *stack, rate float64, burst int) {
		t.Helper()
		stages := resources[*apigatewayv2.Stage](s)
		st, ok := stages["HttpApiStage"]
		if len(stages) != 1 || !ok {
			t.Fatalf("want one AWS::ApiGatewayV2::Stage named HttpApiStage; got %v", slices.Collect(maps.Keys(stages)))
		}
		if st.ApiId != symbol("HttpApi") || st.StageName != "$default" || !deref(st.AutoDeploy) {
			t.Errorf("stage %s of %s, auto-deploy %v; want HttpApi's $default stage, deployed on every change", st.StageName, st.ApiId, deref(st.AutoDeploy))
		}
		rs := st.DefaultRouteSettings
		if rs == nil || deref(rs.ThrottlingRateLimit) != rate || deref(rs.ThrottlingBurstLimit) != burst {
			t.Errorf("default route throttling %+v; want rate %v and burst %d from the parameters", rs, rate, burst)
		}
		if st.RouteSettings != nil {
			t.Errorf("RouteSettings %v override the default throttling for some routes", st.RouteSettings)
		}
		al := st.AccessLogSettings
		if al == nil || deref(al.DestinationArn) != symbol("ApiAccessLogGroup.Arn") {
			t.Fatalf("access logs %+v; want them sent to ApiAccessLogGroup", al)
		}
		if lg := resources[*logs.LogGroup](s)["ApiAccessLogGroup"]; lg == nil || deref(lg.RetentionInDays) <= 0 {
			t.Error("ApiAccessLogGroup is missing or keeps logs forever")
		}
		format := deref(al.Format)
		if strings.Contains(format, "\n") {
			t.Errorf("access log format spans lines; a record must be one JSON line")
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(format), &fields); err != nil {
			t.Fatalf("access log format is not a JSON object: %v\n%s", err, format)
		}
		vars := map[string]string{}
		for k, v := range fields {
			sv, ok := v.(string)
			if !ok || !accessLogVar.MatchString(sv) {
				t.Errorf("access log field %s = %v; want one $context variable as a JSON string", k, v)
				continue
			}
			vars[sv] = k
		}
		for _, need := range []string{"$context.requestId", "$context.routeKey", "$context.status", "$context.responseLatency", "$context.integrationErrorMessage"} {
			if _, ok := vars[need]; !ok {
				t.Errorf("access log lacks %s", need)
			}
		}
		if low := strings.ToLower(format); strings.Contains(low, "authorization") || strings.Contains(low, "header") || strings.Contains(low, "claims") {
			t.Errorf("access log format %s logs a header or token claims; the bearer token must never reach the log", format)
		}
	}
	t.Run("defaults", func(t *testing.T) {
		p := appStack(t).tpl.Parameters
		rate, burst := p["ApiThrottlingRateLimit"].Default, p["ApiThrottlingBurstLimit"].Default
		if rate == nil || burst == nil {
			t.Fatalf("ApiThrottlingRateLimit %v and ApiThrottlingBurstLimit %v need defaults", rate, burst)
		}
		var r float64
		var b int
		fmt.Sscan(fmt.Sprint(rate), &r)
		fmt.Sscan(fmt.Sprint(burst), &b)
		if r <= 0 || b <= 0 {
			t.Fatalf("throttling defaults rate %v burst %v", rate, burst)
		}
		check(t, appStack(t), r, b)
	})
	t.Run("given", func(t *testing.T) {
		d := appDeployment(t, fakeRegion, map[string]string{"ApiThrottlingRateLimit": "7", "ApiThrottlingBurstLimit": "3"})
		check(t, loadStackAs(t, appTemplate, appStackName, d), 7, 3)
	})
}
