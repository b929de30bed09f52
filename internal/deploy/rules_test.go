package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// deployment is one way of deploying a template: the region and the
// parameters given on the command line (strings, lists comma-separated).
type deployment struct {
	region string
	params map[string]string
}

func (d deployment) String() string {
	keys := make([]string, 0, len(d.params))
	for k, v := range d.params {
		keys = append(keys, k+"="+v)
	}
	slices.Sort(keys)
	return d.region + " " + strings.Join(keys, " ")
}

// loadStackAs parses template rel as CloudFormation would evaluate it for d
// (see stack for what stays symbolic). Not cached: each deployment differs.
func loadStackAs(t testing.TB, rel, stackName string, d deployment) *stack {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseTemplateWith(data, &evaluator{stackName: stackName, region: d.region, overrides: d.params})
	if err != nil {
		t.Fatalf("deploy: goformation cannot parse %s: %v", rel, err)
	}
	return &stack{name: stackName, path: rel, tpl: tpl}
}

// rawTemplate is template rel as JSON with its intrinsic functions in long
// form and unevaluated, for the sections goformation does not model (Rules)
// and for evaluating Conditions under a given deployment.
func rawTemplate(t testing.TB, rel string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	yamlMu.Lock()
	out, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	yamlMu.Unlock()
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// ruleEvaluator evaluates a template's Rules section the way CloudFormation
// does before it creates or updates a stack: for each rule whose
// RuleCondition holds, every assertion must hold. Only the rule functions
// CloudFormation documents are understood; anything else fails the test.
type ruleEvaluator struct {
	t      testing.TB
	tpl    map[string]any
	d      deployment
	params map[string]any
}

func newRuleEvaluator(t testing.TB, rel string, d deployment) *ruleEvaluator {
	t.Helper()
	tpl := rawTemplate(t, rel)
	r := &ruleEvaluator{t: t, tpl: tpl, d: d, params: map[string]any{}}
	params, _ := tpl["Parameters"].(map[string]any)
	for name := range d.params {
		if _, ok := params[name]; !ok {
			t.Fatalf("%s has no parameter %s", rel, name)
		}
	}
	for name, raw := range params {
		p, _ := raw.(map[string]any)
		v, given := d.params[name]
		if !given {
			def, ok := p["Default"]
			if !ok {
				t.Fatalf("%s: parameter %s has no default; the deployment %v must give it", rel, name, d)
			}
			v = fmt.Sprint(def)
		}
		if typ, _ := p["Type"].(string); typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
			var list []any
			for _, s := range strings.Split(v, ",") {
				list = append(list, strings.TrimSpace(s))
			}
			r.params[name] = list
		} else {
			r.params[name] = v
		}
	}
	return r
}

// failures returns "rule: description" for every assertion that fails.
func (r *ruleEvaluator) failures() []string {
	rules, _ := r.tpl["Rules"].(map[string]any)
	var out []string
	for name, raw := range rules {
		rule, _ := raw.(map[string]any)
		if c, ok := rule["RuleCondition"]; ok && !r.boolean(c) {
			continue
		}
		asserts, _ := rule["Assertions"].([]any)
		if len(asserts) == 0 {
			r.t.Fatalf("rule %s has no assertions", name)
		}
		for _, a := range asserts {
			m, _ := a.(map[string]any)
			if !r.boolean(m["Assert"]) {
				out = append(out, name+": "+fmt.Sprint(m["AssertDescription"]))
			}
		}
	}
	slices.Sort(out)
	return out
}

func (r *ruleEvaluator) boolean(x any) bool {
	b, ok := r.eval(x).(bool)
	if !ok {
		r.t.Fatalf("rule expression %v is not a condition", x)
	}
	return b
}

func (r *ruleEvaluator) eval(x any) any {
	switch v := x.(type) {
	case string, bool:
		return v
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = r.eval(e)
		}
		return out
	case map[string]any:
		if len(v) != 1 {
			r.t.Fatalf("rule expression %v: want one function", v)
		}
		for fn, arg := range v {
			if fn == "Ref" {
				name, _ := arg.(string)
				if name == "AWS::Region" {
					return r.d.region
				}
				p, ok := r.params[name]
				if !ok {
					r.t.Fatalf("rule refers to %s, which is no parameter (rules may only read parameters and pseudo parameters)", name)
				}
				return p
			}
			args, _ := r.eval(arg).([]any)
			switch fn {
			case "Fn::Equals":
				return len(args) == 2 && fmt.Sprint(args[0]) == fmt.Sprint(args[1])
			case "Fn::Not":
				return len(args) == 1 && !r.boolean(args[0])
			case "Fn::And":
				for _, a := range args {
					if !r.boolean(a) {
						return false
					}
				}
				return true
			case "Fn::Or":
				return slices.ContainsFunc(args, r.boolean)
			case "Fn::Contains": // [[list], value]
				list, _ := args[0].([]any)
				return slices.ContainsFunc(list, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(args[1]) })
			case "Fn::EachMemberEquals": // [list, value]
				list, _ := args[0].([]any)
				for _, e := range list {
					if fmt.Sprint(e) != fmt.Sprint(args[1]) {
						return false
					}
				}
				return true
			case "Fn::EachMemberIn": // [list, allowed]
				list, _ := args[0].([]any)
				allowed, _ := args[1].([]any)
				for _, e := range list {
					if !slices.ContainsFunc(allowed, func(a any) bool { return fmt.Sprint(a) == fmt.Sprint(e) }) {
						return false
					}
				}
				return true
			}
			r.t.Fatalf("rule function %s is not one CloudFormation allows in Rules, or this evaluator does not know it", fn)
		}
	}
	r.t.Fatalf("rule expression %v (%T) not understood", x, x)
	return nil
}

// conditionHolds evaluates the named condition of template rel under d.
func conditionHolds(t testing.TB, rel string, d deployment, name string) bool {
	t.Helper()
	tpl := rawTemplate(t, rel)
	conds, _ := tpl["Conditions"].(map[string]any)
	if _, ok := conds[name]; !ok {
		t.Fatalf("%s has no condition %s", rel, name)
	}
	e := &evaluator{stackName: appStackName, region: d.region, overrides: d.params}
	return e.condition(name, tpl)
}

// resourcesUnder returns the logical ids of the resources of s that exist
// when the template is deployed as d (their Condition, if any, holds).
func resourcesUnder(t testing.TB, s *stack, d deployment) []string {
	t.Helper()
	var out []string
	for id, r := range s.tpl.Resources {
		if c := resourceCondition(r); c == "" || conditionHolds(t, s.path, d, c) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// resourceCondition is the Condition attribute of any goformation resource.
func resourceCondition(r cloudformation.Resource) string {
	b, _ := json.Marshal(r)
	var m struct{ Condition string }
	json.Unmarshal(b, &m)
	return m.Condition
}
