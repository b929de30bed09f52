package deploy

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

var subRef = regexp.MustCompile(`\$\{([^}!.]+)(\.[^}]*)?\}`)

// references returns the logical ids x refers to through Ref, Fn::GetAtt
// and Fn::Sub, whichever branch of an Fn::If they sit in.
func references(x any, out map[string]bool) {
	switch v := x.(type) {
	case []any:
		for _, e := range v {
			references(e, out)
		}
	case map[string]any:
		for k, arg := range v {
			switch k {
			case "Ref":
				if s, ok := arg.(string); ok {
					out[s] = true
				}
				continue
			case "Fn::GetAtt":
				switch a := arg.(type) {
				case []any:
					if len(a) > 0 {
						if s, ok := a[0].(string); ok {
							out[s] = true
						}
					}
				case string:
					out[strings.SplitN(a, ".", 2)[0]] = true
				}
				continue
			case "Fn::Sub":
				text, vars := arg, map[string]any{}
				if a, ok := arg.([]any); ok && len(a) > 0 {
					text = a[0]
					if len(a) > 1 {
						vars, _ = a[1].(map[string]any)
						references(a[1], out)
					}
				}
				if s, ok := text.(string); ok {
					for _, m := range subRef.FindAllStringSubmatch(s, -1) {
						if _, local := vars[m[1]]; !local {
							out[m[1]] = true
						}
					}
				}
				continue
			}
			references(arg, out)
		}
	}
}

// dependencyCycle returns a cycle among tpl's resources (through
// references and DependsOn), or nil. CloudFormation refuses such a template
// before creating anything.
func dependencyCycle(tpl map[string]any) []string {
	res, _ := tpl["Resources"].(map[string]any)
	deps := map[string][]string{}
	for id, r := range res {
		m, _ := r.(map[string]any)
		refs := map[string]bool{}
		references(m["Properties"], refs)
		switch d := m["DependsOn"].(type) {
		case string:
			refs[d] = true
		case []any:
			for _, e := range d {
				refs[e.(string)] = true
			}
		}
		for ref := range refs {
			if _, ok := res[ref]; ok {
				deps[id] = append(deps[id], ref)
			}
		}
		slices.Sort(deps[id])
	}
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(id string) []string {
		switch state[id] {
		case open:
			i := slices.Index(stack, id)
			return append(slices.Clone(stack[i:]), id)
		case done:
			return nil
		}
		state[id] = open
		stack = append(stack, id)
		for _, d := range deps[id] {
			if c := visit(d); c != nil {
				return c
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = done
		return nil
	}
	ids := make([]string, 0, len(res))
	for id := range res {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if c := visit(id); c != nil {
			return c
		}
	}
	return nil
}

// TestNoDependencyCycles: the API, its JWT authorizer and the Cognito app
// client refer to each other (the client returns to the API's URL, the
// authorizer trusts the client); the translated app template and the infra
// template must still have an order to create them in.
func TestNoDependencyCycles(t *testing.T) {
	t.Parallel()
	for name, tpl := range map[string]map[string]any{
		appTemplate + " (translated)": samTranslated(t),
		infraTemplate:                 rawTemplate(t, infraTemplate),
	} {
		if c := dependencyCycle(tpl); c != nil {
			t.Errorf("%s: dependency cycle %s", name, strings.Join(c, " -> "))
		}
	}
}
