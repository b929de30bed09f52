package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// The stack names the templates are evaluated under: the infra stack under
// the app template's default InfraStackName, so its exports can be matched
// with the app's imports.
const (
	appStackName   = "recall"
	infraStackName = "recall-infra"
	appTemplate    = "template.yaml"
	infraTemplate  = "infra/recall-infra.yaml"
	fakeRegion     = "us-east-1"
	fakeAccount    = "123456789012"
)

// repoRoot is the repository root (the directory holding go.mod).
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("deploy: %s has no go.mod; the tests expect to run from internal/deploy", dir)
	}
	return dir
}

// A template as the tests see it. Intrinsic functions are evaluated the way
// CloudFormation would for a stack created with every parameter at its
// default, in region us-east-1 of account 123456789012; what only exists
// once deployed stays symbolic:
//
//	Ref to a resource                 "${Name}"
//	Ref to a parameter with no default "${Name}" (["${Name}"] for a list)
//	Fn::GetAtt                        "${Name.Attr}"
//	Fn::ImportValue                   "${Import:<export name>}"
//	Fn::Split / Fn::Select of those    "${Split:<sep>:<value>}", "${Select:<i>:<list>}"
//
// Fn::If takes the branch its condition selects under the defaults.
type stack struct {
	name string
	path string
	tpl  *cloudformation.Template
}

var (
	stacksMu sync.Mutex
	stacks   = map[string]*stack{}
	// yamlMu serialises goformation's YAML reading, which registers its
	// tag resolvers in a global map on every call.
	yamlMu sync.Mutex
)

// loadStack parses a template once per test binary.
func loadStack(t testing.TB, rel, stackName string) *stack {
	t.Helper()
	stacksMu.Lock()
	defer stacksMu.Unlock()
	if s, ok := stacks[rel]; ok {
		return s
	}
	path := filepath.Join(repoRoot(t), rel)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	tpl, err := parseTemplate(data, stackName)
	if err != nil {
		t.Fatalf("deploy: goformation cannot parse %s: %v", rel, err)
	}
	s := &stack{name: stackName, path: rel, tpl: tpl}
	stacks[rel] = s
	return s
}

func appStack(t testing.TB) *stack   { t.Helper(); return loadStack(t, appTemplate, appStackName) }
func infraStack(t testing.TB) *stack { t.Helper(); return loadStack(t, infraTemplate, infraStackName) }

// parseTemplate parses data with goformation, with handlers that evaluate
// intrinsics as described on stack.
func parseTemplate(data []byte, stackName string) (*cloudformation.Template, error) {
	return parseTemplateWith(data, &evaluator{stackName: stackName})
}

// parseTemplateWith parses data evaluating intrinsics with e, whose
// overrides and region stand in for what `sam deploy` would be given.
func parseTemplateWith(data []byte, e *evaluator) (*cloudformation.Template, error) {
	yamlMu.Lock()
	defer yamlMu.Unlock()
	h := map[string]intrinsics.IntrinsicHandler{
		"Ref":             e.ref,
		"Fn::GetAtt":      e.getAtt,
		"Fn::Sub":         e.sub,
		"Fn::ImportValue": func(_ string, in, _ any) any { return "${Import:" + str(in) + "}" },
		"Fn::Join":        e.join,
		"Fn::Split":       e.split,
		"Fn::Select":      e.selectFn,
		"Fn::GetAZs":      func(_ string, in, _ any) any { return []any{"${AZ:0}", "${AZ:1}", "${AZ:2}"} },
		"Fn::If":          e.ifFn,
		"Fn::Equals":      func(_ string, in, _ any) any { return e.equals(in) },
		"Fn::Not":         func(_ string, in, _ any) any { return e.not(in) },
		"Fn::And":         func(_ string, in, _ any) any { return e.and(in) },
		"Fn::Or":          func(_ string, in, _ any) any { return e.or(in) },
		"Fn::Base64":      func(_ string, in, _ any) any { return in },
		"Fn::FindInMap":   func(n string, in, _ any) any { return "${" + n + ":" + str(in) + "}" },
		"Fn::Cidr":        func(n string, in, _ any) any { return []any{"${" + n + ":" + str(in) + "}"} },
		"Fn::Transform":   func(n string, in, _ any) any { return "${" + n + "}" },
	}
	return goformation.ParseYAMLWithOptions(newerTypes.ReplaceAll(data, []byte("${1}Custom::$2")), &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: h})
}

// newerTypes matches resource types newer than goformation's schema
// (v7.14.9, its latest, predates Amazon S3 Vectors), which it refuses to
// parse, in the template (YAML) and in SAM's translation (JSON) alike.
// They are read as custom resources of type "Custom::<Service>::
// <Resource>", properties as written; cfn-lint (make lint) checks them
// against the real schema.
var newerTypes = regexp.MustCompile(`(Type:\s+|"Type":\s*")AWS::(S3Vectors::)`)

type evaluator struct {
	stackName string
	// region replaces fakeRegion when set.
	region string
	// overrides are parameter values given at deploy time, as strings
	// (comma-separated for list types), in place of the defaults.
	overrides map[string]string
}

func (e *evaluator) pseudo(name string) (any, bool) {
	switch name {
	case "AWS::Region":
		if e.region != "" {
			return e.region, true
		}
		return fakeRegion, true
	case "AWS::AccountId":
		return fakeAccount, true
	case "AWS::Partition":
		return "aws", true
	case "AWS::StackName":
		return e.stackName, true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::NoValue":
		return nil, true
	}
	return nil, false
}

// param returns the default of parameter name, typed as CloudFormation
// would hand it over, or a symbol when it has none.
func (e *evaluator) param(name string, tpl any) (any, bool) {
	m, _ := tpl.(map[string]any)
	params, _ := m["Parameters"].(map[string]any)
	p, ok := params[name].(map[string]any)
	if !ok {
		return nil, false
	}
	typ, _ := p["Type"].(string)
	list := strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList"
	def, hasDef := p["Default"]
	if v, ok := e.overrides[name]; ok {
		def, hasDef = v, true
	}
	switch {
	case !hasDef && list:
		return []any{"${" + name + "}"}, true
	case !hasDef:
		return "${" + name + "}", true
	case list:
		var out []any
		for _, s := range strings.Split(fmt.Sprint(def), ",") {
			out = append(out, strings.TrimSpace(s))
		}
		return out, true
	case typ == "Number":
		if v, ok := def.(string); ok {
			var n float64
			if _, err := fmt.Sscan(v, &n); err == nil {
				return n, true
			}
		}
		return def, true
	}
	return fmt.Sprint(def), true
}

func (e *evaluator) ref(_ string, in, tpl any) any {
	name, _ := in.(string)
	if v, ok := e.pseudo(name); ok {
		return v
	}
	if v, ok := e.param(name, tpl); ok {
		return v
	}
	return "${" + name + "}"
}

func (e *evaluator) getAtt(_ string, in, _ any) any {
	switch v := in.(type) {
	case []any:
		parts := make([]string, len(v))
		for i, p := range v {
			parts[i] = str(p)
		}
		return "${" + strings.Join(parts, ".") + "}"
	default:
		return "${" + str(v) + "}"
	}
}

var (
	subVar      = regexp.MustCompile(`\$\{([^}!]+)\}`)
	wholeSymbol = regexp.MustCompile(`^\$\{[^${}]*\}$`)
)

func (e *evaluator) sub(_ string, in, tpl any) any {
	var text string
	vars := map[string]any{}
	switch v := in.(type) {
	case string:
		text = v
	case []any:
		if len(v) > 0 {
			text = str(v[0])
		}
		if len(v) > 1 {
			if m, ok := v[1].(map[string]any); ok {
				vars = m
			}
		}
	}
	return subVar.ReplaceAllStringFunc(text, func(m string) string {
		name := m[2 : len(m)-1]
		if v, ok := vars[name]; ok {
			return str(v)
		}
		if v, ok := e.pseudo(name); ok {
			return str(v)
		}
		if !strings.Contains(name, ".") {
			if v, ok := e.param(name, tpl); ok {
				return str(v)
			}
		}
		return m // a resource or attribute: stays symbolic
	})
}

func (e *evaluator) join(_ string, in, _ any) any {
	v, _ := in.([]any)
	if len(v) != 2 {
		return "${Join:" + str(in) + "}"
	}
	items, ok := v[1].([]any)
	if !ok {
		return "${Join:" + str(in) + "}"
	}
	parts := make([]string, len(items))
	for i, p := range items {
		parts[i] = str(p)
	}
	return strings.Join(parts, str(v[0]))
}

func (e *evaluator) split(_ string, in, _ any) any {
	v, _ := in.([]any)
	if len(v) != 2 {
		return []any{"${Split:" + str(in) + "}"}
	}
	sep, s := str(v[0]), str(v[1])
	// A value only known once deployed (an import holding a list, say)
	// stays symbolic; a string that merely contains deployed names, with the
	// separator outside them, splits as CloudFormation would split it.
	if wholeSymbol.MatchString(s) || strings.Contains(subVar.ReplaceAllString(s, ""), "${") {
		return []any{"${Split:" + sep + ":" + s + "}"}
	}
	var out []any
	for _, p := range strings.Split(s, sep) {
		out = append(out, p)
	}
	return out
}

func (e *evaluator) selectFn(_ string, in, _ any) any {
	v, _ := in.([]any)
	if len(v) != 2 {
		return "${Select:" + str(in) + "}"
	}
	var i int
	fmt.Sscan(str(v[0]), &i)
	list, ok := v[1].([]any)
	if !ok || i < 0 || i >= len(list) || strings.Contains(str(list[i]), "${Split:") {
		return "${Select:" + str(v[0]) + ":" + str(v[1]) + "}"
	}
	return list[i]
}

func (e *evaluator) ifFn(_ string, in, tpl any) any {
	v, _ := in.([]any)
	if len(v) != 3 {
		return nil
	}
	name, _ := v[0].(string)
	if e.condition(name, tpl) {
		return v[1]
	}
	return v[2]
}

// condition evaluates the named condition of the raw template.
func (e *evaluator) condition(name string, tpl any) bool {
	m, _ := tpl.(map[string]any)
	conds, _ := m["Conditions"].(map[string]any)
	b, _ := e.evalRaw(conds[name], tpl).(bool)
	return b
}

// evalRaw evaluates a raw (unprocessed) condition expression.
func (e *evaluator) evalRaw(x, tpl any) any {
	switch v := x.(type) {
	case map[string]any:
		for k, arg := range v {
			switch k {
			case "Ref":
				return e.ref(k, arg, tpl)
			case "Condition":
				return e.condition(str(arg), tpl)
			}
			args, _ := arg.([]any)
			vals := make([]any, len(args))
			for i, a := range args {
				vals[i] = e.evalRaw(a, tpl)
			}
			switch k {
			case "Fn::Equals":
				return e.equals(vals)
			case "Fn::Not":
				return e.not(vals)
			case "Fn::And":
				return e.and(vals)
			case "Fn::Or":
				return e.or(vals)
			case "Fn::Join":
				return e.join(k, vals, tpl)
			}
		}
	}
	return x
}

func (e *evaluator) equals(in any) any {
	v, _ := in.([]any)
	return len(v) == 2 && str(v[0]) == str(v[1])
}

func (e *evaluator) not(in any) any {
	v, _ := in.([]any)
	b, _ := first(v).(bool)
	return len(v) == 1 && !b
}

func (e *evaluator) and(in any) any {
	v, _ := in.([]any)
	for _, x := range v {
		if b, _ := x.(bool); !b {
			return false
		}
	}
	return true
}

func (e *evaluator) or(in any) any {
	v, _ := in.([]any)
	return slices.ContainsFunc(v, func(x any) bool { b, _ := x.(bool); return b })
}

func first(v []any) any {
	if len(v) == 0 {
		return nil
	}
	return v[0]
}

// str renders an evaluated value as CloudFormation would put it in a string.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = str(p)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case float64:
		return fmt.Sprint(x)
	}
	return fmt.Sprint(v)
}
