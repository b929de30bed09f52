package deploy

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/apigatewayv2"
	"github.com/awslabs/goformation/v7/cloudformation/cloudwatch"
	"github.com/awslabs/goformation/v7/cloudformation/dynamodb"
	"github.com/awslabs/goformation/v7/cloudformation/ec2"
	"github.com/awslabs/goformation/v7/cloudformation/elasticache"
	"github.com/awslabs/goformation/v7/cloudformation/global"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/logs"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"

	"recall/internal/bedrock"
	"recall/internal/config"
	"recall/internal/dynamo"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/metrics"
	"recall/internal/redisq"
)

// ---------------------------------------------------------------- helpers

// fn is one function of template.yaml with Globals applied.
type fn struct {
	Name      string // directory under functions/ ("create")
	LogicalID string // "CreateFunction"
	F         *serverless.Function
	Env       map[string]string // Globals variables overridden by the function's
}

// logicalID is the template's logical id of function name.
func logicalID(name string) string { return strings.ToUpper(name[:1]) + name[1:] + "Function" }

// lambdaFunctions are the functions under functions/, as config names them.
var lambdaFunctions = []string{httpapi.FunctionCreate, httpapi.FunctionGet, httpapi.FunctionHealth, lambdafn.FunctionProcess, httpapi.FunctionWeb}

func globals(t *testing.T, s *stack) *global.Function {
	t.Helper()
	g, err := s.tpl.GetServerlessGlobalFunction()
	if err != nil {
		t.Fatalf("%s: %v", s.path, err)
	}
	return g
}

func appFunctions(t *testing.T) map[string]fn {
	t.Helper()
	return appFunctionsOf(t, appStack(t))
}

// appFunctionsOf is appFunctions for the app template evaluated as s.
func appFunctionsOf(t *testing.T, s *stack) map[string]fn {
	t.Helper()
	g := globals(t, s)
	out := map[string]fn{}
	for id, r := range s.tpl.Resources {
		f, ok := r.(*serverless.Function)
		if !ok {
			continue
		}
		if !strings.HasSuffix(id, "Function") || len(id) == len("Function") {
			t.Errorf("function %s: logical ids are <Name>Function so `make build-<LogicalId>` names the function", id)
			continue
		}
		name := strings.ToLower(id[:1]) + strings.TrimSuffix(id[1:], "Function")
		env := map[string]string{}
		if g.Environment != nil {
			maps.Copy(env, g.Environment.Variables)
		}
		if f.Environment != nil {
			maps.Copy(env, f.Environment.Variables)
		}
		out[name] = fn{Name: name, LogicalID: id, F: f, Env: env}
	}
	return out
}

func resources[T cloudformation.Resource](s *stack) map[string]T {
	out := map[string]T{}
	for id, r := range s.tpl.Resources {
		if v, ok := r.(T); ok {
			out[id] = v
		}
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// symbol is how an evaluated template names a deployed resource or attribute.
func symbol(name string) string { return "${" + name + "}" }

func importOf(export string) string { return "${Import:" + infraStackName + "-" + export + "}" }

// ------------------------------------------------------------- functions

type logsLogGroup = logs.LogGroup

func TestTemplateDeclaresEveryFunction(t *testing.T) {
	t.Parallel()
	fns := appFunctions(t)
	dirs, err := os.ReadDir(filepath.Join(repoRoot(t), "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, d := range dirs {
		if d.IsDir() {
			onDisk = append(onDisk, d.Name())
		}
	}
	want := slices.Sorted(slices.Values(lambdaFunctions))
	if got := slices.Sorted(maps.Keys(fns)); !slices.Equal(got, want) {
		t.Errorf("template.yaml declares functions %v; config knows %v", got, want)
	}
	if slices.Sort(onDisk); !slices.Equal(onDisk, want) {
		t.Errorf("functions/ holds %v; config knows %v", onDisk, want)
	}
}

func TestFunctionsBuildAsSAMExpects(t *testing.T) {
	t.Parallel()
	s := appStack(t)
	g := globals(t, s)
	if got := deref(g.Runtime); got != "provided.al2023" {
		t.Errorf("Globals.Function.Runtime = %q; want provided.al2023 (the OS-only runtime a Go bootstrap needs)", got)
	}
	if g.Architectures == nil || !slices.Equal(*g.Architectures, []string{"arm64"}) {
		t.Errorf("Globals.Function.Architectures = %v; want [arm64]", g.Architectures)
	}
	if got := deref(g.Handler); got != "bootstrap" {
		t.Errorf("Globals.Function.Handler = %q; want bootstrap", got)
	}
	if got := deref(g.Tracing); got == "Active" {
		t.Errorf("Globals.Function.Tracing = %q, but nothing in the functions sends trace data: it only costs", got)
	}
	if deref(g.Timeout) <= 0 || deref(g.MemorySize) <= 0 {
		t.Errorf("Globals.Function must set Timeout and MemorySize; got %v and %v", deref(g.Timeout), deref(g.MemorySize))
	}
	for name, f := range appFunctions(t) {
		t.Run(name, func(t *testing.T) {
			if m := f.F.AWSCloudFormationMetadata; m == nil || m["BuildMethod"] != "makefile" {
				t.Errorf("Metadata.BuildMethod = %v; want makefile: SAM's go1.x builder adds neither CGO_ENABLED=0 nor -tags lambda.norpc", m["BuildMethod"])
			}
			if f.F.CodeUri == nil || deref(f.F.CodeUri.String) != "." {
				t.Errorf("CodeUri must be the repository root (\".\"), where go.mod and the Makefile are")
			}
			if f.F.Runtime != nil || f.F.Architectures != nil || f.F.Handler != nil {
				t.Errorf("Runtime, Architectures and Handler come from Globals; the function must not override them")
			}
			if got, want := deref(f.F.FunctionName), appStackName+"-"+name; got != want {
				t.Errorf("FunctionName = %q; want %q (${AWS::StackName}-%s), which the role and log group name", got, want, name)
			}
			if got, want := deref(f.F.Role), symbol(strings.ToUpper(name[:1])+name[1:]+"Role.Arn"); got != want {
				t.Errorf("Role = %q; want %q: one role per function", got, want)
			}
			if f.F.Policies != nil {
				t.Errorf("Policies is set; permissions belong in the function's own role")
			}
			lg := strings.ToUpper(name[:1]) + name[1:] + "LogGroup"
			if !slices.Contains(f.F.AWSCloudFormationDependsOn, lg) {
				t.Errorf("DependsOn %v lacks %s: Lambda would create the log group first, without retention", f.F.AWSCloudFormationDependsOn, lg)
			}
			main := filepath.Join(repoRoot(t), "functions", name, "main.go")
			file, err := parser.ParseFile(token.NewFileSet(), main, nil, parser.PackageClauseOnly)
			if err != nil {
				t.Fatalf("functions/%s: %v", name, err)
			}
			if file.Name.Name != "main" {
				t.Errorf("functions/%s is package %s; a Lambda bootstrap must be package main", name, file.Name.Name)
			}
		})
	}
}

func TestFunctionLogGroups(t *testing.T) {
	t.Parallel()
	s := appStack(t)
	for _, name := range lambdaFunctions {
		id := strings.ToUpper(name[:1]) + name[1:] + "LogGroup"
		r, ok := s.tpl.Resources[id].(*logsLogGroup)
		if !ok {
			t.Errorf("no AWS::Logs::LogGroup %s", id)
			continue
		}
		if got, want := deref(r.LogGroupName), "/aws/lambda/"+appStackName+"-"+name; got != want {
			t.Errorf("%s: LogGroupName %q; want %q, the group Lambda writes %s's output to", id, got, want, name)
		}
		if deref(r.RetentionInDays) <= 0 {
			t.Errorf("%s: no RetentionInDays; logs would be kept (and paid for) forever", id)
		}
	}
}

// ----------------------------------------------------------- environment

// envRule says what Lambda does with one variable config reads.
type envRule struct {
	// In lists the functions that must have the variable set ("*" for all).
	In []string
	// Only, if not empty, says why no function outside In may have it
	// (a secret, or a setting that means something to one function).
	Only string
	// Absent, if not empty, says why no function may set it.
	Absent string
	// Optional, if not empty, says why leaving it unset is right.
	Optional string
}

var (
	allFns = []string{"*"}
	// serviceFns open the store (and the queue): every function but web.
	serviceFns = []string{httpapi.FunctionCreate, httpapi.FunctionGet, httpapi.FunctionHealth, lambdafn.FunctionProcess}
	// queueFns reach Redis: the queue, and the usage totals and per-owner
	// limits every function that embeds or counts must share.
	queueFns = []string{httpapi.FunctionCreate, httpapi.FunctionGet, httpapi.FunctionHealth, lambdafn.FunctionProcess}
	procFn   = []string{lambdafn.FunctionProcess}
	webFn    = []string{httpapi.FunctionWeb}
)

// webOnly is why the RECALL_OIDC_* variables are the web function's alone.
const webOnly = "only the web function serves the page that signs in"

// lambdaEnv classifies every variable config reads. A variable config starts
// reading fails TestEnvironment until it is added here, so nobody forgets to
// set it in template.yaml.
var lambdaEnv = map[string]envRule{
	"RECALL_DATA_DIR":             {Absent: "the embedded store is for the local runner; a Lambda function has none and uses DynamoDB"},
	"RECALL_JWT_SECRET":           {Absent: "the local runner's HS256 secret; behind API Gateway the JWT authorizer verifies tokens"},
	"RECALL_CURSOR_KEY":           {In: serviceFns, Only: "a secret: only the functions that open the store sign or check cursors (web opens nothing)"},
	"REDIS_URL":                   {In: queueFns, Only: "it carries the cache user's password"},
	"RECALL_REDIS_CLUSTER":        {In: queueFns},
	"RECALL_CONSUMER":             {Absent: "each Lambda execution environment picks a random consumer name; a fixed one would be shared by concurrent environments"},
	"DYNAMODB_TABLE":              {In: serviceFns},
	"RECALL_CREATE_TABLE":         {In: serviceFns},
	"RECALL_AI":                   {In: serviceFns},
	"BEDROCK_MODEL_ID":            {In: serviceFns},
	"AWS_REGION":                  {Absent: "reserved: Lambda sets it"},
	"AWS_DEFAULT_REGION":          {Absent: "reserved: Lambda sets it"},
	"RECALL_ANALYZER_LATENCY":     {Absent: "slows the local analyzer for load tests"},
	"BEDROCK_CACHE_TTL":           {Optional: "the analyzer's default (7 days) suits Lambda"},
	"BEDROCK_MAX_TOKENS":          {Optional: "the analyzer's default bounds every reply"},
	"BEDROCK_INPUT_BUDGET_TOKENS": {Optional: "the analyzer's default splits long content"},
	"BEDROCK_RPM":                 {In: procFn},
	"RECALL_TIMEZONE":             {In: procFn},
	"RECALL_DATE_ORDER":           {In: procFn},
	"BEDROCK_TPM":                 {In: procFn},
	"RECALL_MAX_ATTEMPTS":         {In: procFn},
	"RECALL_MAX_THROTTLE_RETRIES": {In: procFn},
	"RECALL_RETRY_BASE":           {In: procFn},
	"RECALL_RETRY_MAX":            {In: procFn},
	"RECALL_ANALYZE_TIMEOUT":      {In: procFn},
	"RECALL_VISIBILITY_TIMEOUT":   {In: procFn},
	"RECALL_STALE_AFTER":          {In: procFn},
	"RECALL_SWEEP_EVERY":          {Absent: "paces the local runner's sweep loop; in Lambda the schedule sweeps"},
	"RECALL_CONCURRENCY":          {In: procFn},
	"RECALL_FAIR_SHARE":           {Optional: "the default (16, twice the default concurrency) suits the template; create and process must agree, and both leave it unset"},
	"RECALL_LOG_FORMAT":           {In: allFns},
	"RECALL_LOG_LEVEL":            {In: allFns},
	"RECALL_PROCESS_FUNCTION":     {In: []string{httpapi.FunctionCreate}},
	"RECALL_OIDC_ISSUER":          {In: webFn, Only: webOnly},
	"RECALL_OIDC_CLIENT_ID":       {In: webFn, Only: webOnly},
	"RECALL_OIDC_SCOPES":          {In: webFn, Only: webOnly},
	"RECALL_OIDC_TOKEN_ENDPOINT":  {In: webFn, Only: webOnly},
	"RECALL_OIDC_TOKEN_USE":       {In: webFn, Only: webOnly},
	"RECALL_METRICS_ADDR":         {Absent: "the local runner's metrics listener; Lambda functions write their metrics to their logs (EMF)"},
	"RECALL_OWNER_RPS":            {Optional: "the default per-owner rate suits; set it on the create function to change it"},
	"RECALL_OWNER_BURST":          {Optional: "the default per-owner burst suits; set it on the create function to change it"},
	"RECALL_OWNER_TOKENS_PER_DAY": {Optional: "the default daily token budget suits; set the same value on the create and process functions to change it"},
	"RECALL_VECTOR_BUCKET":        {In: serviceFns},
	"RECALL_VECTOR_INDEX":         {In: serviceFns},
	"RECALL_EMBED_MODEL":          {In: serviceFns},
}

// sdkEnv are variables the template sets that the AWS SDK reads, not config.
var sdkEnv = map[string]string{
	"AWS_ENDPOINT_URL": "empty in AWS (the SDK ignores it); sam local invoke --env-vars points it at LocalStack",
}

// configVariables returns the environment variables internal/config reads,
// found in its source: the first argument of its get/dur/num/count/rate/flag/
// optNum/choice/lookup helpers and of os.Getenv/os.LookupEnv.
func configVariables(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "internal", "config")
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	helpers := map[string]bool{"get": true, "dur": true, "num": true, "count": true, "rate": true, "flag": true, "optNum": true, "choice": true, "lookup": true, "location": true, "dateOrder": true}
	seen := map[string]bool{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			match := false
			switch fun := call.Fun.(type) {
			case *ast.Ident:
				match = helpers[fun.Name]
			case *ast.SelectorExpr:
				if x, ok := fun.X.(*ast.Ident); ok && x.Name == "os" && (fun.Sel.Name == "Getenv" || fun.Sel.Name == "LookupEnv") {
					match = true
				}
				match = match || helpers[fun.Sel.Name] // the helpers are methods of config's reader
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); match && ok && lit.Kind == token.STRING {
				if name, err := strconv.Unquote(lit.Value); err == nil && regexp.MustCompile(`^[A-Z][A-Z0-9_]+$`).MatchString(name) {
					seen[name] = true
				}
			}
			return true
		})
	}
	if len(seen) < 10 {
		t.Fatalf("found only %v in internal/config; the parser no longer understands how config reads the environment", slices.Sorted(maps.Keys(seen)))
	}
	return slices.Sorted(maps.Keys(seen))
}

// placeholders turns an evaluated value into one config can parse: deployed
// names and imports become "0" (a valid host, port and name), dynamic
// references "secret".
func placeholders(v string) string {
	for strings.Contains(v, "${") {
		v = regexp.MustCompile(`\$\{[^${}]*\}`).ReplaceAllString(v, "0")
	}
	return regexp.MustCompile(`\{\{resolve:[^}]*\}\}`).ReplaceAllString(v, "secret")
}

func TestEnvironment(t *testing.T) {
	t.Parallel()
	read := configVariables(t)
	for _, name := range read {
		if _, ok := lambdaEnv[name]; !ok {
			t.Errorf("config reads %s, which lambdaEnv does not classify: decide whether template.yaml must set it", name)
		}
	}
	for name := range lambdaEnv {
		if !slices.Contains(read, name) {
			t.Errorf("lambdaEnv names %s, which config does not read (found %v): a variable the template sets for nothing", name, read)
		}
	}
	for name, f := range appFunctions(t) {
		t.Run(name, func(t *testing.T) {
			for v := range f.Env {
				rule, known := lambdaEnv[v]
				_, sdk := sdkEnv[v]
				switch {
				case rule.Absent != "":
					t.Errorf("%s is set, but must not be: %s", v, rule.Absent)
				case !known && !sdk:
					t.Errorf("%s is set, but neither config nor the SDK reads it", v)
				case rule.Only != "" && !slices.Contains(rule.In, name):
					t.Errorf("%s is set, but only %v may have it: %s", v, rule.In, rule.Only)
				}
			}
			for v, rule := range lambdaEnv {
				if slices.Contains(rule.In, "*") || slices.Contains(rule.In, name) {
					if _, ok := f.Env[v]; !ok {
						t.Errorf("%s is not set; the %s function needs it", v, name)
					}
				}
			}
			if got := f.Env["RECALL_CREATE_TABLE"]; got != "" && got != "false" {
				t.Errorf("RECALL_CREATE_TABLE = %q: the template owns the table", got)
			}
			// The values must be ones config accepts.
			env := map[string]string{}
			for k, v := range f.Env {
				env[k] = placeholders(v)
			}
			if _, err := config.FromLookup(config.Lambda, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
				t.Errorf("config refuses the %s function's environment: %v", name, err)
			}
		})
	}
}

func TestProcessTimeoutFitsAnAnalysis(t *testing.T) {
	t.Parallel()
	p := appFunctions(t)[lambdafn.FunctionProcess]
	analyze, err := time.ParseDuration(p.Env["RECALL_ANALYZE_TIMEOUT"])
	if err != nil {
		t.Fatalf("RECALL_ANALYZE_TIMEOUT: %v", err)
	}
	timeout := time.Duration(deref(p.F.Timeout)) * time.Second
	if need := analyze + lambdafn.DefaultMargin; timeout < need {
		t.Errorf("process Timeout %s < RECALL_ANALYZE_TIMEOUT %s + margin %s: a scheduled drain could never take a job", timeout, analyze, lambdafn.DefaultMargin)
	}
	for name, f := range appFunctions(t) {
		if name == lambdafn.FunctionProcess {
			continue
		}
		to := deref(f.F.Timeout)
		if to == 0 {
			to = deref(globals(t, appStack(t)).Timeout)
		}
		if to > 30 {
			t.Errorf("%s: Timeout %ds; API Gateway stops waiting for an HTTP API integration after 30s", name, to)
		}
	}
}

// ----------------------------------------------------------------- routes

type route struct {
	Method, Path, Function string
	Public                 bool
}

func (r route) String() string {
	auth := "jwt"
	if r.Public {
		auth = "public"
	}
	return fmt.Sprintf("%s %s -> %s (%s)", r.Method, r.Path, r.Function, auth)
}

func TestRoutesMatchTheHandler(t *testing.T) {
	t.Parallel()
	var got []string
	for _, r := range apiRoutes(t, appStack(t)) {
		got = append(got, r.String())
	}
	var want []string
	for _, rt := range httpapi.RouteTable() {
		want = append(want, route{Method: rt.Method, Path: rt.Pattern, Function: rt.Function, Public: rt.Public}.String())
	}
	sort.Strings(got)
	sort.Strings(want)
	for _, r := range want {
		if !slices.Contains(got, r) {
			t.Errorf("template.yaml lacks the route %s that httpapi.RouteTable serves", r)
		}
	}
	for _, r := range got {
		if !slices.Contains(want, r) {
			t.Errorf("template.yaml routes %s, which httpapi.RouteTable does not serve", r)
		}
	}
}

func TestHttpApiAuthorizer(t *testing.T) {
	t.Parallel()
	s := appStack(t)
	auths := resources[*apigatewayv2.Authorizer](s)
	a, ok := auths["JwtAuthorizer"]
	if len(auths) != 1 || !ok {
		t.Fatalf("want exactly one AWS::ApiGatewayV2::Authorizer named JwtAuthorizer; got %v", slices.Collect(maps.Keys(auths)))
	}
	if a.ApiId != symbol("HttpApi") || a.AuthorizerType != "JWT" {
		t.Errorf("authorizer on %s of type %q; want a JWT authorizer of HttpApi", a.ApiId, a.AuthorizerType)
	}
	if !slices.Equal(a.IdentitySource, []string{"$request.header.Authorization"}) {
		t.Errorf("IdentitySource = %v; clients send Authorization: Bearer <jwt>", a.IdentitySource)
	}
	if a.JwtConfiguration == nil || deref(a.JwtConfiguration.Issuer) == "" || len(a.JwtConfiguration.Audience) == 0 {
		t.Errorf("JwtConfiguration %+v; want an issuer and an audience", a.JwtConfiguration)
	}
}

// The sample events in events/ must be events the deployed API sends.
func TestSampleEventsUseTemplateRoutes(t *testing.T) {
	t.Parallel()
	keys := map[string]bool{}
	for _, rt := range httpapi.RouteTable() {
		keys[rt.Method+" "+rt.Pattern] = true
	}
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "events", "*.json"))
	if len(files) == 0 {
		t.Fatal("no sample events in events/")
	}
	for _, file := range files {
		var ev struct {
			RouteKey string `json:"routeKey"`
			Version  string `json:"version"`
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("%s: %v", filepath.Base(file), err)
			continue
		}
		if ev.RouteKey != "" && !keys[ev.RouteKey] {
			t.Errorf("%s: routeKey %q is no route of the API", filepath.Base(file), ev.RouteKey)
		}
	}
}

// ------------------------------------------------------------------ table

func TestTableMatchesTheStore(t *testing.T) {
	t.Parallel()
	s := appStack(t)
	tables := resources[*dynamodb.Table](s)
	tbl, ok := tables["Table"]
	if len(tables) != 1 || !ok {
		t.Fatalf("want exactly one AWS::DynamoDB::Table named Table; got %v", slices.Collect(maps.Keys(tables)))
	}
	def := dynamo.TableDefinition("recall")

	if got, want := deref(tbl.BillingMode), string(def.BillingMode); got != want {
		t.Errorf("BillingMode %q; the store defines %q", got, want)
	}
	var gotAttrs, wantAttrs []string
	for _, a := range tbl.AttributeDefinitions {
		gotAttrs = append(gotAttrs, a.AttributeName+":"+a.AttributeType)
	}
	for _, a := range def.AttributeDefinitions {
		wantAttrs = append(wantAttrs, deref(a.AttributeName)+":"+string(a.AttributeType))
	}
	sort.Strings(gotAttrs)
	sort.Strings(wantAttrs)
	if !slices.Equal(gotAttrs, wantAttrs) {
		t.Errorf("AttributeDefinitions %v; the store defines %v", gotAttrs, wantAttrs)
	}
	keys := func(ks []dynamodb.Table_KeySchema) (out []string) {
		for _, k := range ks {
			out = append(out, k.AttributeName+":"+k.KeyType)
		}
		return out
	}
	var wantKeys []string
	for _, k := range def.KeySchema {
		wantKeys = append(wantKeys, deref(k.AttributeName)+":"+string(k.KeyType))
	}
	if got := keys(tbl.KeySchema); !slices.Equal(got, wantKeys) {
		t.Errorf("KeySchema %v; the store defines %v", got, wantKeys)
	}
	gsis := map[string]string{}
	for _, g := range tbl.GlobalSecondaryIndexes {
		var nonKey []string
		ptype := ""
		if g.Projection != nil {
			nonKey = slices.Sorted(slices.Values(g.Projection.NonKeyAttributes))
			ptype = deref(g.Projection.ProjectionType)
		}
		gsis[g.IndexName] = fmt.Sprintf("keys=%v projection=%s%v", keys(g.KeySchema), ptype, nonKey)
	}
	wantGSIs := map[string]string{}
	for _, g := range def.GlobalSecondaryIndexes {
		var ks []string
		for _, k := range g.KeySchema {
			ks = append(ks, deref(k.AttributeName)+":"+string(k.KeyType))
		}
		var nonKey []string
		if g.Projection != nil {
			nonKey = slices.Sorted(slices.Values(g.Projection.NonKeyAttributes))
		}
		wantGSIs[deref(g.IndexName)] = fmt.Sprintf("keys=%v projection=%s%v", ks, g.Projection.ProjectionType, nonKey)
	}
	if !maps.Equal(gsis, wantGSIs) {
		t.Errorf("GlobalSecondaryIndexes %v; the store defines %v", gsis, wantGSIs)
	}
	if len(tbl.LocalSecondaryIndexes) != len(def.LocalSecondaryIndexes) {
		t.Errorf("%d local secondary indexes; the store defines %d", len(tbl.LocalSecondaryIndexes), len(def.LocalSecondaryIndexes))
	}
	if ttl := tbl.TimeToLiveSpecification; ttl == nil || !ttl.Enabled || deref(ttl.AttributeName) != dynamo.TTLAttribute {
		t.Errorf("TimeToLiveSpecification %+v; want enabled on %q, the attribute idempotency keys expire by", ttl, dynamo.TTLAttribute)
	}
	if p := tbl.PointInTimeRecoverySpecification; p == nil || !deref(p.PointInTimeRecoveryEnabled) {
		t.Error("point-in-time recovery is not enabled")
	}
	if sse := tbl.SSESpecification; sse != nil && sse.SSEEnabled && deref(sse.KMSMasterKeyId) == "" {
		// DynamoDB encrypts every table at rest with an AWS owned key;
		// SSEEnabled without a customer key only adds KMS charges.
		t.Error("SSESpecification selects the AWS managed KMS key: no more protection than the default AWS owned key, and billed KMS requests")
	}
	if tbl.AWSCloudFormationDeletionPolicy != "Retain" || tbl.AWSCloudFormationUpdateReplacePolicy != "Retain" {
		t.Errorf("DeletionPolicy %q, UpdateReplacePolicy %q; want Retain for both: deleting the stack must not delete the data",
			tbl.AWSCloudFormationDeletionPolicy, tbl.AWSCloudFormationUpdateReplacePolicy)
	}
	for name, f := range appFunctions(t) {
		if got := f.Env["DYNAMODB_TABLE"]; got != symbol("Table") {
			t.Errorf("%s: DYNAMODB_TABLE = %q; want the template's table", name, got)
		}
	}
}

// -------------------------------------------------------------------- IAM

type statement struct {
	Role      string
	Sid       string
	Actions   []string
	Resources []string
	Condition map[string]any
}

func strs(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, str(e))
		}
		return out
	}
	return nil
}

// statements returns every Allow statement of every role in both templates.
func statements(t *testing.T) []statement {
	t.Helper()
	var out []statement
	for _, s := range []*stack{appStack(t), infraStack(t)} {
		for id, r := range s.tpl.Resources {
			switch r.(type) {
			case *iam.Policy, *iam.ManagedPolicy, *iam.User, *iam.Group:
				t.Errorf("%s: %s is a %s; permissions belong in the functions' roles", s.path, id, r.AWSCloudFormationType())
			}
		}
		for id, role := range resources[*iam.Role](s) {
			if len(role.ManagedPolicyArns) > 0 {
				t.Errorf("%s: managed policies %v; AWS's managed policies grant logs and more on \"*\"", id, role.ManagedPolicyArns)
			}
			trust, _ := json.Marshal(role.AssumeRolePolicyDocument)
			if !strings.Contains(string(trust), `"lambda.amazonaws.com"`) || strings.Count(string(trust), `"Service"`) != 1 {
				t.Errorf("%s: trust policy %s; want Lambda alone", id, trust)
			}
			for _, p := range role.Policies {
				doc, _ := p.PolicyDocument.(map[string]any)
				var sts []any
				switch v := doc["Statement"].(type) {
				case []any:
					sts = v
				case map[string]any:
					sts = []any{v}
				}
				for _, raw := range sts {
					m, _ := raw.(map[string]any)
					if m["Effect"] != "Allow" {
						continue
					}
					if _, ok := m["NotAction"]; ok {
						t.Errorf("%s: NotAction grants everything else", id)
					}
					if _, ok := m["NotResource"]; ok {
						t.Errorf("%s: NotResource grants everything else", id)
					}
					cond, _ := m["Condition"].(map[string]any)
					out = append(out, statement{Role: id, Sid: str(m["Sid"]), Actions: strs(m["Action"]), Resources: strs(m["Resource"]), Condition: cond})
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no IAM statements found")
	}
	return out
}

// unscopable lists the only actions a role may grant on "*", and why AWS
// leaves no choice.
var unscopable = map[string]string{
	"ec2:CreateNetworkInterface":     "Lambda creates the function's ENIs in whatever subnets VpcConfig names",
	"ec2:DescribeNetworkInterfaces":  "EC2 Describe* calls have no resource-level permissions",
	"ec2:DescribeSubnets":            "EC2 Describe* calls have no resource-level permissions",
	"ec2:DeleteNetworkInterface":     "Lambda deletes ENIs it created, whose ids are not known in advance",
	"ec2:AssignPrivateIpAddresses":   "Lambda manages addresses on ENIs whose ids are not known in advance",
	"ec2:UnassignPrivateIpAddresses": "Lambda manages addresses on ENIs whose ids are not known in advance",
}

var vpcActions = []string{"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}

func roleOf(name string) string { return strings.ToUpper(name[:1]) + name[1:] + "Role" }

func TestIAMIsScoped(t *testing.T) {
	t.Parallel()
	sts := statements(t)
	granted := map[string]map[string]bool{} // role -> actions
	for _, st := range sts {
		if granted[st.Role] == nil {
			granted[st.Role] = map[string]bool{}
		}
		for _, a := range st.Actions {
			granted[st.Role][a] = true
			if strings.Contains(a, "*") {
				t.Errorf("%s/%s: action %q is a wildcard; name the actions", st.Role, st.Sid, a)
			}
		}
		for _, r := range st.Resources {
			if r != "*" {
				continue
			}
			for _, a := range st.Actions {
				if _, ok := unscopable[a]; !ok {
					t.Errorf("%s/%s: %s on Resource \"*\"; AWS lets it be scoped, so scope it", st.Role, st.Sid, a)
				}
			}
		}
		if len(st.Resources) == 0 {
			t.Errorf("%s/%s: no Resource", st.Role, st.Sid)
		}
	}
	for name, f := range appFunctions(t) {
		role := roleOf(name)
		acts := granted[role]
		if acts == nil {
			t.Errorf("%s: its role %s grants nothing", name, role)
			continue
		}
		for _, a := range vpcActions {
			if inVPC := f.F.VpcConfig != nil; acts[a] != inVPC {
				t.Errorf("%s: in VPC %v but %s granted %v: only functions in the VPC need ENI permissions", role, inVPC, a, acts[a])
			}
		}
		for _, a := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
			if !acts[a] {
				t.Errorf("%s lacks %s", role, a)
			}
		}
		for a := range acts {
			if strings.HasPrefix(a, "xray:") && deref(f.F.Tracing) != "Active" && deref(globals(t, appStack(t)).Tracing) != "Active" {
				t.Errorf("%s grants %s, but %s is not traced", role, a, name)
			}
		}
	}
	for _, st := range sts {
		for _, a := range st.Actions {
			if strings.HasPrefix(a, "logs:") {
				name := strings.ToLower(strings.TrimSuffix(st.Role, "Role"))
				want := fmt.Sprintf("arn:aws:logs:%s:%s:log-group:/aws/lambda/%s-%s:*", fakeRegion, fakeAccount, appStackName, name)
				if !slices.Equal(st.Resources, []string{want}) {
					t.Errorf("%s: %s on %v; want only the function's own log group %s", st.Role, a, st.Resources, want)
				}
			}
		}
	}
}

// storeRuntimeFiles are the files of internal/dynamo the functions run:
// schema.go's CreateTable path runs only with RECALL_CREATE_TABLE, and
// scan.go serves the operator's bulk commands, not a function; keywords.go
// is search on AWS.
var storeRuntimeFiles = []string{"store.go", "items.go", "items_sync.go", "delete.go", "keywords.go"}

// storeActions returns the DynamoDB operations the store calls at run time.
func storeActions(t *testing.T) []string {
	t.Helper()
	files := make([]string, len(storeRuntimeFiles))
	for i, name := range storeRuntimeFiles {
		files[i] = filepath.Join("internal", "dynamo", name)
	}
	return clientCalls(t, "dynamodb:", files...)
}

// clientCalls returns the operations files call on a field named client
// (x.client.<Operation>), as IAM actions with prefix.
func clientCalls(t *testing.T, prefix string, files ...string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, file := range files {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(repoRoot(t), file), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if inner, ok := sel.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "client" && sel.Sel.Name != "Options" {
				seen[prefix+sel.Sel.Name] = true
			}
			return true
		})
	}
	if len(seen) == 0 {
		t.Fatalf("found no <x>.client.<Operation> calls in %v", files)
	}
	return slices.Sorted(maps.Keys(seen))
}

func TestDynamoDBPermissions(t *testing.T) {
	t.Parallel()
	used := storeActions(t)
	granted := map[string]bool{}
	indexes := map[string]bool{}
	for _, g := range dynamo.TableDefinition("x").GlobalSecondaryIndexes {
		indexes[symbol("Table.Arn")+"/index/"+deref(g.IndexName)] = true
	}
	for _, st := range statements(t) {
		var dyn []string
		for _, a := range st.Actions {
			if strings.HasPrefix(a, "dynamodb:") {
				dyn = append(dyn, a)
				granted[a] = true
			}
		}
		if len(dyn) == 0 {
			continue
		}
		for _, r := range st.Resources {
			if r != symbol("Table.Arn") && !indexes[r] {
				t.Errorf("%s/%s: %v on %q; want the table or one of its indexes", st.Role, st.Sid, dyn, r)
			}
		}
	}
	for _, a := range used {
		if !granted[a] {
			t.Errorf("the store calls %s, which no role grants", a)
		}
	}
	for a := range granted {
		if !slices.Contains(used, a) {
			t.Errorf("a role grants %s, which the store never calls (it calls %v)", a, used)
		}
	}
}

// geoProfile splits an inference profile id into its geography prefix and
// the foundation model id it routes to.
func geoProfile(id string) (geo, model string, ok bool) {
	geo, model, ok = strings.Cut(id, ".")
	return geo, model, ok && strings.Contains(model, ".")
}

func TestBedrockPermissions(t *testing.T) {
	t.Parallel()
	if got := appFunctions(t)[lambdafn.FunctionProcess].Env["BEDROCK_MODEL_ID"]; got != bedrock.DefaultModelID {
		t.Errorf("process BEDROCK_MODEL_ID evaluates to %q; want the parameter (%s)", got, bedrock.DefaultModelID)
	}
	_, model, ok := geoProfile(bedrock.DefaultModelID)
	if !ok {
		t.Fatalf("%s is not an inference profile id", bedrock.DefaultModelID)
	}
	profileARN := fmt.Sprintf("arn:aws:bedrock:%s:%s:inference-profile/%s", fakeRegion, fakeAccount, bedrock.DefaultModelID)
	// A cross-region profile routes to the model in several regions, so the
	// model's ARN has a wildcard region; the condition limits it to calls
	// made through the profile.
	modelARN := "arn:aws:bedrock:*::foundation-model/" + model
	var profile, viaProfile bool
	for _, st := range statements(t) {
		var bed []string
		for _, a := range st.Actions {
			if strings.HasPrefix(a, "bedrock:") {
				bed = append(bed, a)
			}
		}
		if len(bed) == 0 || slices.Equal(st.Resources, []string{embedModelARN}) {
			continue // the embedding model: TestSearchPermissions
		}
		if st.Role != roleOf(lambdafn.FunctionProcess) {
			t.Errorf("%s grants %v; only the process function calls the model", st.Role, bed)
		}
		if !slices.Equal(bed, []string{"bedrock:InvokeModel"}) || len(bed) != len(st.Actions) {
			t.Errorf("%s/%s: actions %v; want bedrock:InvokeModel alone (Converse is authorized by it)", st.Role, st.Sid, st.Actions)
		}
		switch {
		case slices.Equal(st.Resources, []string{profileARN}) && st.Condition == nil:
			profile = true
		case slices.Equal(st.Resources, []string{modelARN}):
			eq, _ := st.Condition["StringEquals"].(map[string]any)
			if str(eq["bedrock:InferenceProfileArn"]) != profileARN {
				t.Errorf("%s/%s: the foundation model is granted with condition %v; want StringEquals bedrock:InferenceProfileArn %s", st.Role, st.Sid, st.Condition, profileARN)
			}
			viaProfile = true
		default:
			t.Errorf("%s/%s: bedrock on %v; want only %s, or %s through it", st.Role, st.Sid, st.Resources, profileARN, modelARN)
		}
	}
	if !profile || !viaProfile {
		t.Errorf("the process role must grant InvokeModel on the profile (%v) and on its foundation model through the profile (%v)", profile, viaProfile)
	}
}

func TestNudgePermission(t *testing.T) {
	t.Parallel()
	fns := appFunctions(t)
	if got := fns[httpapi.FunctionCreate].Env["RECALL_PROCESS_FUNCTION"]; got != symbol("ProcessFunction") {
		t.Errorf("create: RECALL_PROCESS_FUNCTION = %q; want the process function", got)
	}
	found := false
	for _, st := range statements(t) {
		for _, a := range st.Actions {
			if !strings.HasPrefix(a, "lambda:") {
				continue
			}
			if st.Role != roleOf(httpapi.FunctionCreate) || a != "lambda:InvokeFunction" {
				t.Errorf("%s grants %s; only create invokes anything (the process function)", st.Role, a)
			}
			if !slices.Equal(st.Resources, []string{symbol("ProcessFunction.Arn")}) {
				t.Errorf("%s: %s on %v; want the process function alone", st.Role, a, st.Resources)
			}
			found = true
		}
	}
	if !found {
		t.Error("the create role cannot invoke the process function; the nudge would fail")
	}
}

// -------------------------------------------------------------- schedule

func TestProcessSchedule(t *testing.T) {
	t.Parallel()
	p := appFunctions(t)[lambdafn.FunctionProcess]
	var schedules []*serverless.Function_ScheduleEvent
	for id, ev := range p.F.Events {
		if ev.Type != "Schedule" || ev.Properties == nil || ev.Properties.ScheduleEvent == nil {
			t.Errorf("process event %s is a %s; the process function is driven by its schedule and direct invocations", id, ev.Type)
			continue
		}
		schedules = append(schedules, ev.Properties.ScheduleEvent)
	}
	if len(schedules) != 1 {
		t.Fatalf("process has %d schedules; want one (drain + sweep)", len(schedules))
	}
	sch := schedules[0]
	if sch.Schedule != "rate(1 minute)" || (sch.Enabled != nil && !*sch.Enabled) {
		t.Errorf("schedule %q enabled %v; want rate(1 minute), enabled", sch.Schedule, sch.Enabled)
	}
	if sch.Input != nil {
		t.Errorf("schedule Input %q: the function recognises EventBridge's own Scheduled Event", *sch.Input)
	}
	param := appStack(t).tpl.Parameters["ProcessConcurrency"]
	if got := deref(p.F.ReservedConcurrentExecutions); fmt.Sprint(got) != fmt.Sprint(param.Default) || got < 1 {
		t.Errorf("ReservedConcurrentExecutions %d; want the ProcessConcurrency parameter (default %v)", got, param.Default)
	}
	if c := p.F.EventInvokeConfig; c == nil || deref(c.MaximumRetryAttempts) != 0 || deref(c.MaximumEventAgeInSeconds) <= 0 {
		t.Errorf("EventInvokeConfig %+v; want MaximumRetryAttempts 0 (the queue retries jobs) and a bounded event age", c)
	}
	for name, f := range appFunctions(t) {
		if name == lambdafn.FunctionProcess {
			continue
		}
		for id, ev := range f.F.Events {
			t.Errorf("%s event %s (%s): API functions are invoked by the HTTP API's routes only", name, id, ev.Type)
		}
	}
	var ev map[string]any
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "events", "process-scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &ev)
	if ev["source"] != "aws.events" || ev["detail-type"] != "Scheduled Event" {
		t.Errorf("events/process-scheduled.json is not what an EventBridge schedule sends: %v", ev)
	}
}

// ------------------------------------------------------------------- VPC

func TestVPCWiring(t *testing.T) {
	t.Parallel()
	redisURL := ""
	for name, f := range appFunctions(t) {
		_, queue := f.Env["REDIS_URL"]
		if inVPC := f.F.VpcConfig != nil; inVPC != queue {
			t.Errorf("%s: in VPC %v, uses Redis %v: exactly the functions that reach the cache run in the VPC", name, inVPC, queue)
		}
		if !queue {
			continue
		}
		vc := f.F.VpcConfig
		if want := []string{"${Split:,:" + importOf("PrivateSubnetIds") + "}"}; !slices.Equal(vc.SubnetIds, want) {
			t.Errorf("%s: SubnetIds %v; want the infra stack's private subnets %v", name, vc.SubnetIds, want)
		}
		if want := []string{importOf("FunctionSecurityGroupId")}; !slices.Equal(vc.SecurityGroupIds, want) {
			t.Errorf("%s: SecurityGroupIds %v; want %v", name, vc.SecurityGroupIds, want)
		}
		if f.Env["RECALL_REDIS_CLUSTER"] != "true" {
			t.Errorf("%s: RECALL_REDIS_CLUSTER = %q; ElastiCache Serverless speaks the cluster protocol", name, f.Env["RECALL_REDIS_CLUSTER"])
		}
		if redisURL == "" {
			redisURL = f.Env["REDIS_URL"]
		} else if f.Env["REDIS_URL"] != redisURL {
			t.Errorf("%s: REDIS_URL differs from another function's", name)
		}
	}
	want := "rediss://" + importOf("CacheUserName") + ":{{resolve:secretsmanager:" + importOf("CacheUserSecretArn") + ":SecretString:password}}@" +
		importOf("CacheEndpoint") + ":" + importOf("CachePort")
	if redisURL != want {
		t.Errorf("REDIS_URL = %q\nwant        %q\n(TLS, the cache user, its password resolved from Secrets Manager at deploy time)", redisURL, want)
	}
}

// imports returns every export name the app template imports.
func imports(t *testing.T) []string {
	t.Helper()
	b, err := json.Marshal(appStack(t).tpl)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{Import:([^}]*)\}`).FindAllStringSubmatch(string(b), -1) {
		seen[m[1]] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

func TestImportsMatchInfraExports(t *testing.T) {
	t.Parallel()
	exports := map[string]bool{}
	for id, o := range infraStack(t).tpl.Outputs {
		if o.Export == nil {
			t.Errorf("infra output %s has no Export", id)
			continue
		}
		exports[o.Export.Name] = true
		if !strings.HasPrefix(o.Export.Name, infraStackName+"-") {
			t.Errorf("infra export %q is not prefixed with the stack name, so two stacks would collide", o.Export.Name)
		}
	}
	imp := imports(t)
	if len(imp) == 0 {
		t.Fatal("template.yaml imports nothing from the infra stack")
	}
	for _, name := range imp {
		if !exports[name] {
			t.Errorf("template.yaml imports %q, which infra/recall-infra.yaml does not export (exports %v)", name, slices.Sorted(maps.Keys(exports)))
		}
	}
}

func TestInfraNetwork(t *testing.T) {
	t.Parallel()
	s := infraStack(t)
	for id, r := range s.tpl.Resources {
		switch r.(type) {
		case *ec2.InternetGateway, *ec2.NatGateway, *ec2.EIP, *ec2.VPCGatewayAttachment, *ec2.Route, *ec2.EgressOnlyInternetGateway:
			t.Errorf("%s is a %s: the functions' subnets have no route out; AWS APIs are reached through endpoints", id, r.AWSCloudFormationType())
		}
	}
	vpcs := resources[*ec2.VPC](s)
	if len(vpcs) != 1 {
		t.Fatalf("want one VPC; got %d", len(vpcs))
	}
	for id, v := range vpcs {
		if !deref(v.EnableDnsSupport) || !deref(v.EnableDnsHostnames) {
			t.Errorf("%s: DNS support and hostnames must be on for the endpoints' private DNS", id)
		}
	}
	subnets := resources[*ec2.Subnet](s)
	azs := map[string]bool{}
	var subnetRefs []string
	for id, sn := range subnets {
		azs[deref(sn.AvailabilityZoneId)] = true
		subnetRefs = append(subnetRefs, symbol(id))
		if deref(sn.MapPublicIpOnLaunch) {
			t.Errorf("%s maps public IPs", id)
		}
	}
	sort.Strings(subnetRefs)
	if len(subnets) != 2 || len(azs) != 2 {
		t.Errorf("want 2 private subnets in 2 AZs; got %d in %v", len(subnets), slices.Collect(maps.Keys(azs)))
	}
	exported := ""
	for _, o := range s.tpl.Outputs {
		if o.Export != nil && o.Export.Name == infraStackName+"-PrivateSubnetIds" {
			exported = str(o.Value)
		}
	}
	if parts := strings.Split(exported, ","); !slices.Equal(slices.Sorted(slices.Values(parts)), subnetRefs) {
		t.Errorf("PrivateSubnetIds exports %q; want both subnets %v", exported, subnetRefs)
	}
	tables := map[string][]string{}
	for _, a := range resources[*ec2.SubnetRouteTableAssociation](s) {
		tables[a.RouteTableId] = append(tables[a.RouteTableId], a.SubnetId)
	}

	// Endpoints: every AWS API the functions in the VPC call.
	needed := map[string]string{"dynamodb": "Gateway", "bedrock-runtime": "Interface", "lambda": "Interface", "s3vectors": "Interface"}
	fns := appFunctions(t)
	if fns[lambdafn.FunctionProcess].Env["RECALL_AI"] != "bedrock" {
		t.Errorf("process RECALL_AI = %q; the deployment analyses with Bedrock", fns[lambdafn.FunctionProcess].Env["RECALL_AI"])
	}
	if fns[httpapi.FunctionCreate].F.VpcConfig == nil {
		t.Error("create is outside the VPC, but it needs Redis")
	}
	endpoints := map[string]*ec2.VPCEndpoint{}
	for id, ep := range resources[*ec2.VPCEndpoint](s) {
		svc := strings.TrimPrefix(ep.ServiceName, "com.amazonaws."+fakeRegion+".")
		if ep.AWSCloudFormationCondition != "" {
			t.Logf("endpoint %s (%s) is optional (condition %s)", id, svc, ep.AWSCloudFormationCondition)
			continue
		}
		endpoints[svc] = ep
		if deref(ep.VpcEndpointType) == "Interface" {
			if !deref(ep.PrivateDnsEnabled) {
				t.Errorf("%s: private DNS is off; the SDK's default hostnames would not reach it", id)
			}
			if got := slices.Sorted(slices.Values(ep.SubnetIds)); !slices.Equal(got, subnetRefs) {
				t.Errorf("%s: subnets %v; want both private subnets %v", id, got, subnetRefs)
			}
			if !slices.Equal(ep.SecurityGroupIds, []string{symbol("EndpointSecurityGroup")}) {
				t.Errorf("%s: security groups %v; want EndpointSecurityGroup", id, ep.SecurityGroupIds)
			}
		}
	}
	for svc, typ := range needed {
		ep, ok := endpoints[svc]
		if !ok {
			t.Errorf("no %s endpoint for %s: a function in the VPC reaches other AWS APIs only through one", typ, svc)
			continue
		}
		if deref(ep.VpcEndpointType) != typ {
			t.Errorf("%s endpoint is %s; want %s", svc, deref(ep.VpcEndpointType), typ)
		}
		if typ == "Gateway" {
			for _, rt := range ep.RouteTableIds {
				if got := slices.Sorted(slices.Values(tables[rt])); !slices.Equal(got, subnetRefs) {
					t.Errorf("%s gateway endpoint's route table %s serves %v; want both subnets %v", svc, rt, got, subnetRefs)
				}
			}
			if len(ep.RouteTableIds) == 0 {
				t.Errorf("%s gateway endpoint is in no route table", svc)
			}
		}
	}
	// Secrets are resolved by CloudFormation at deploy time; nothing in the
	// VPC calls Secrets Manager, so no endpoint and no permission exist.
	for _, st := range statements(t) {
		for _, a := range st.Actions {
			if strings.HasPrefix(a, "secretsmanager:") {
				t.Errorf("%s grants %s, but no function calls Secrets Manager (and the VPC has no endpoint for it)", st.Role, a)
			}
		}
	}
}

// port reports whether rule (protocol, from, to) covers port.
func covers(proto string, from, to *int, port int) bool {
	return proto == "-1" || (proto == "tcp" && deref(from) <= port && port <= deref(to))
}

func TestInfraSecurityGroups(t *testing.T) {
	t.Parallel()
	s := infraStack(t)
	fnSG, cacheSG, epSG := symbol("FunctionSecurityGroup"), symbol("CacheSecurityGroup"), symbol("EndpointSecurityGroup")
	egress := map[int]string{}
	for _, e := range resources[*ec2.SecurityGroup](s)["FunctionSecurityGroup"].SecurityGroupEgress {
		for _, p := range []int{443} {
			if covers(e.IpProtocol, e.FromPort, e.ToPort, p) {
				egress[p] = deref(e.CidrIp)
			}
		}
	}
	for _, e := range resources[*ec2.SecurityGroupEgress](s) {
		if e.GroupId != fnSG {
			continue
		}
		for _, p := range []int{6379, 6380} {
			if covers(e.IpProtocol, e.FromPort, e.ToPort, p) {
				egress[p] = deref(e.DestinationSecurityGroupId)
			}
		}
	}
	if egress[443] == "" || egress[6379] != cacheSG || egress[6380] != cacheSG {
		t.Errorf("function egress %v; want 443 to the endpoints and 6379-6380 to the cache's group", egress)
	}
	ingress := map[string][]int{}
	for _, in := range resources[*ec2.SecurityGroupIngress](s) {
		for _, p := range []int{443, 6379, 6380} {
			if covers(in.IpProtocol, in.FromPort, in.ToPort, p) && deref(in.SourceSecurityGroupId) == fnSG {
				ingress[deref(in.GroupId)] = append(ingress[deref(in.GroupId)], p)
			}
		}
	}
	for id, sg := range resources[*ec2.SecurityGroup](s) {
		if len(sg.SecurityGroupIngress) > 0 {
			t.Errorf("%s has inline ingress %v; only the functions' group may connect in", id, sg.SecurityGroupIngress)
		}
	}
	if !slices.Equal(ingress[cacheSG], []int{6379, 6380}) {
		t.Errorf("cache ingress from the functions covers ports %v; ElastiCache Serverless listens on 6379 and 6380", ingress[cacheSG])
	}
	if !slices.Equal(ingress[epSG], []int{443}) {
		t.Errorf("endpoint ingress from the functions covers ports %v; want 443", ingress[epSG])
	}
}

func TestInfraCache(t *testing.T) {
	t.Parallel()
	s := infraStack(t)
	caches := resources[*elasticache.ServerlessCache](s)
	c, ok := caches["Cache"]
	if len(caches) != 1 || !ok {
		t.Fatalf("want one AWS::ElastiCache::ServerlessCache named Cache; got %v", slices.Collect(maps.Keys(caches)))
	}
	if c.Engine != "valkey" {
		t.Errorf("Engine %q; want valkey", c.Engine)
	}
	if !slices.Equal(c.SecurityGroupIds, []string{symbol("CacheSecurityGroup")}) || len(c.SubnetIds) != 2 {
		t.Errorf("cache network: groups %v subnets %v", c.SecurityGroupIds, c.SubnetIds)
	}
	if deref(c.UserGroupId) != symbol("CacheUserGroup") {
		t.Errorf("UserGroupId %q; the cache must require RBAC users", deref(c.UserGroupId))
	}
	if c.CacheUsageLimits == nil || c.CacheUsageLimits.DataStorage == nil || c.CacheUsageLimits.DataStorage.Maximum == nil {
		t.Fatal("no data storage limit: the 75% alarm needs one")
	}
	limit := *c.CacheUsageLimits.DataStorage.Maximum
	users := resources[*elasticache.User](s)
	app, def := users["CacheAppUser"], users["CacheDefaultUser"]
	if app == nil || def == nil {
		t.Fatalf("want users CacheAppUser and CacheDefaultUser; got %v", slices.Collect(maps.Keys(users)))
	}
	if def.UserName != "default" || !strings.HasPrefix(deref(def.AccessString), "off ") {
		t.Errorf("the required \"default\" user must be switched off; got %s %q", def.UserName, deref(def.AccessString))
	}
	// The key prefixes the functions use: the queue, limiter and usage
	// keys share the hash tag; the analysis cache has its own prefix.
	acc := strings.Fields(deref(app.AccessString))
	for _, keys := range []string{"~{" + redisq.DefaultPrefix + "}:*", "~" + redisq.NewCache(nil, "").Key("") + "*"} {
		if !slices.Contains(acc, keys) {
			t.Errorf("app user access %q does not allow %s, which the functions use", deref(app.AccessString), keys)
		}
	}
	if !slices.Contains(acc, "on") || slices.Contains(acc, "~*") || slices.Contains(acc, "allkeys") || !slices.Contains(acc, "-@dangerous") {
		t.Errorf("app user access %q; want on, only Recall's keys, and -@dangerous", deref(app.AccessString))
	}
	if app.AuthenticationMode == nil || app.AuthenticationMode.Type != "password" ||
		!slices.Equal(app.AuthenticationMode.Passwords, []string{"{{resolve:secretsmanager:" + symbol("CacheUserSecret") + ":SecretString:password}}"}) {
		t.Errorf("app user authentication %+v; want the password from CacheUserSecret", app.AuthenticationMode)
	}
	var exportedUser string
	for _, o := range s.tpl.Outputs {
		if o.Export != nil && o.Export.Name == infraStackName+"-CacheUserName" {
			exportedUser = str(o.Value)
		}
	}
	if exportedUser != app.UserName {
		t.Errorf("CacheUserName exports %q; the app user is %q", exportedUser, app.UserName)
	}

	var alarm *cloudwatch.Alarm
	for _, a := range resources[*cloudwatch.Alarm](s) {
		for _, m := range a.Metrics {
			if m.MetricStat != nil && m.MetricStat.Metric != nil && deref(m.MetricStat.Metric.MetricName) == "BytesUsedForCache" {
				alarm = a
			}
		}
	}
	if alarm == nil {
		t.Fatal("no alarm on the cache's BytesUsedForCache")
	}
	var expr string
	for _, m := range alarm.Metrics {
		if m.MetricStat != nil {
			met := m.MetricStat.Metric
			if deref(met.Namespace) != "AWS/ElastiCache" || len(met.Dimensions) != 1 || met.Dimensions[0].Name != "clusterId" || met.Dimensions[0].Value != c.ServerlessCacheName {
				t.Errorf("cache metric %+v; serverless caches publish under AWS/ElastiCache with dimension clusterId=%s", met, c.ServerlessCacheName)
			}
		}
		if deref(m.ReturnData) {
			expr = deref(m.Expression)
		}
	}
	if want := fmt.Sprintf("(%d * 1000000000)", limit); !strings.Contains(expr, want) || deref(alarm.Threshold) != 75 || alarm.ComparisonOperator != "GreaterThanThreshold" {
		t.Errorf("cache alarm: %s %v on %q; want > 75 (percent) of the %d GB limit", alarm.ComparisonOperator, deref(alarm.Threshold), expr, limit)
	}
}

// ----------------------------------------------------------------- alarms

func TestAlarms(t *testing.T) {
	t.Parallel()
	topic := importOf("AlarmTopicArn")
	// The EMF gauges are written with no dimensions (metrics.EMF puts
	// unlabelled metrics in its first, dimensionless document), so the
	// alarms name none either.
	want := map[string]string{ // metric -> namespace
		"Errors":               "AWS/Lambda",
		metrics.DeadLetters:    metrics.DefaultNamespace,
		metrics.QueueOldestAge: metrics.DefaultNamespace,
	}
	got := map[string]*cloudwatch.Alarm{}
	for id, a := range resources[*cloudwatch.Alarm](appStack(t)) {
		got[deref(a.MetricName)] = a
		if !slices.Equal(a.AlarmActions, []string{topic}) {
			t.Errorf("%s notifies %v; want the infra stack's topic", id, a.AlarmActions)
		}
		if ns := deref(a.Namespace); ns == metrics.DefaultNamespace && len(a.Dimensions) != 0 {
			t.Errorf("%s: dimensions %v; the EMF gauges carry none, so this alarm would watch a metric that never arrives", id, a.Dimensions)
		}
	}
	for metric, ns := range want {
		a, ok := got[metric]
		if !ok {
			t.Errorf("no alarm on %s/%s", ns, metric)
			continue
		}
		if deref(a.Namespace) != ns {
			t.Errorf("alarm on %s is in namespace %q; want %q", metric, deref(a.Namespace), ns)
		}
	}
	if a := got["Errors"]; a != nil && (len(a.Dimensions) != 1 || a.Dimensions[0].Value != symbol("ProcessFunction")) {
		t.Errorf("Errors alarm dimensions %v; want the process function", a.Dimensions)
	}
	if a := got[metrics.DeadLetters]; a != nil && (deref(a.Threshold) != 0 || a.ComparisonOperator != "GreaterThanThreshold") {
		t.Errorf("dead letters alarm: %s %v; want > 0", a.ComparisonOperator, deref(a.Threshold))
	}
	if a := got[metrics.QueueOldestAge]; a != nil && deref(a.Threshold) != 300 {
		t.Errorf("queue age alarm threshold %v; want the QueueAgeAlarmSeconds default 300", deref(a.Threshold))
	}
}
