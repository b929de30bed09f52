package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"recall/internal/httpapi"
)

// The translated template: what CloudFormation receives once SAM's transform
// has run, produced offline by the AWS SAM translator (the library `sam
// deploy` and cfn-lint use) through testdata/sam_translate.py. Some defects
// only exist there (a route SAM marks with a security scheme nobody
// defined), so the checks that matter run on it as well.
var (
	translatedOnce sync.Once
	translated     map[string]any
	translateErr   string
)

// samTranslated returns template.yaml after the SAM transform, as JSON. It
// fails, never skips, when python3 or the translator is missing: this check
// stands in for a deployment that cannot be made from here.
func samTranslated(t *testing.T) map[string]any {
	t.Helper()
	translatedOnce.Do(func() {
		py, err := exec.LookPath("python3")
		if err != nil {
			translateErr = "python3 is not installed; install Python 3 and the AWS SAM translator (pip install aws-sam-translator) to check the translated template"
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		root := repoRoot(t)
		cmd := exec.CommandContext(ctx, py, filepath.Join(root, "internal", "deploy", "testdata", "sam_translate.py"), filepath.Join(root, appTemplate), fakeRegion)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			if exit := (*exec.ExitError)(nil); errors.As(err, &exit) && exit.ExitCode() == 3 {
				translateErr = py + ": " + strings.TrimSpace(stderr.String())
				return
			}
			translateErr = "the SAM translator refused template.yaml: " + err.Error() + "\n" + stderr.String()
			return
		}
		if err := json.Unmarshal(stdout.Bytes(), &translated); err != nil {
			translateErr = "the SAM translator's output is not JSON: " + err.Error()
		}
	})
	if translateErr != "" {
		t.Fatal(translateErr)
	}
	return translated
}

// translatedResources returns the translated template's resources of type typ.
func translatedResources(t *testing.T, typ string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	res, _ := samTranslated(t)["Resources"].(map[string]any)
	for id, r := range res {
		m, _ := r.(map[string]any)
		if m["Type"] == typ {
			props, _ := m["Properties"].(map[string]any)
			out[id] = props
		}
	}
	return out
}

// securityRequirements returns every OpenAPI security requirement in body
// (top level and per operation) with where it was found.
func securityRequirements(body map[string]any) map[string][]any {
	out := map[string][]any{}
	if sec, ok := body["security"].([]any); ok {
		out["(top level)"] = sec
	}
	paths, _ := body["paths"].(map[string]any)
	for p, ops := range paths {
		m, _ := ops.(map[string]any)
		for method, op := range m {
			o, _ := op.(map[string]any)
			if sec, ok := o["security"].([]any); ok {
				out[strings.ToUpper(method)+" "+p] = sec
			}
		}
	}
	return out
}

// TestTranslatedTemplateRoutes: after SAM's transform the public routes
// (health, the web app's, the OpenAPI document) are public without any
// OpenAPI security requirement that names a scheme the API does not define
// ({"NONE": []} is what SAM writes for Authorizer: NONE, and API Gateway's
// import warns about it), and every other route is behind the JWT
// authorizer.
func TestTranslatedTemplateRoutes(t *testing.T) {
	t.Parallel()
	apis := translatedResources(t, "AWS::ApiGatewayV2::Api")
	if _, ok := apis["HttpApi"]; len(apis) != 1 || !ok {
		t.Fatalf("the translated template has APIs %v; want HttpApi alone (an implicit SAM API would be public)", keys(apis))
	}
	for id, props := range apis {
		body, _ := props["Body"].(map[string]any)
		if body == nil {
			continue
		}
		comps, _ := body["components"].(map[string]any)
		schemes, _ := comps["securitySchemes"].(map[string]any)
		for where, reqs := range securityRequirements(body) {
			for _, req := range reqs {
				m, _ := req.(map[string]any)
				for name := range m {
					if _, ok := schemes[name]; !ok {
						t.Errorf("%s: %s requires security scheme %q, which the API does not define", id, where, name)
					}
				}
			}
		}
	}
	raw, _ := json.Marshal(samTranslated(t)["Resources"])
	if strings.Contains(string(raw), `"NONE":[]`) {
		t.Error(`the translated template still holds a {"NONE": []} security requirement`)
	}
	routes := translatedResources(t, "AWS::ApiGatewayV2::Route")
	if len(routes) == 0 {
		t.Fatal("the translated template has no AWS::ApiGatewayV2::Route")
	}
	public := map[string]bool{}
	for _, rt := range httpapi.RouteTable() {
		public[rt.Method+" "+rt.Pattern] = rt.Public
	}
	for id, r := range routes {
		key, _ := r["RouteKey"].(string)
		auth, _ := r["AuthorizationType"].(string)
		authorizer, _ := json.Marshal(r["AuthorizerId"])
		switch {
		case public[key]:
			if auth != "NONE" || r["AuthorizerId"] != nil {
				t.Errorf("%s (%s): AuthorizationType %q, authorizer %s; want NONE: the route is public", id, key, auth, authorizer)
			}
		case auth != "JWT" || string(authorizer) != `{"Ref":"JwtAuthorizer"}`:
			t.Errorf("%s (%s): AuthorizationType %q, authorizer %s; want JWT with JwtAuthorizer", id, key, auth, authorizer)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestTranslatedTemplateTracing: SAM turns Tracing into each function's
// TracingConfig; none may be Active while nothing sends trace data.
func TestTranslatedTemplateTracing(t *testing.T) {
	t.Parallel()
	fns := translatedResources(t, "AWS::Lambda::Function")
	if len(fns) != len(lambdaFunctions) {
		t.Errorf("the translated template has functions %v; want %d", keys(fns), len(lambdaFunctions))
	}
	for id, f := range fns {
		if tc, _ := f["TracingConfig"].(map[string]any); tc != nil && tc["Mode"] == "Active" {
			t.Errorf("%s: TracingConfig %v; nothing in the functions sends trace data", id, tc)
		}
	}
}
