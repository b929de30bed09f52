package deploy

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/elasticache"
)

// TestInfraCacheUserGroup checks the Valkey user group against ElastiCache's
// RBAC guide: "A user group configured for the VALKEY engine can only contain
// users using an authentication mechanism (password or IAM)". A member with
// no-password-required makes CreateUserGroup, and so the whole infra stack,
// fail.
func TestInfraCacheUserGroup(t *testing.T) {
	t.Parallel()
	s := infraStack(t)
	groups := resources[*elasticache.UserGroup](s)
	g, ok := groups["CacheUserGroup"]
	if len(groups) != 1 || !ok {
		t.Fatalf("want one AWS::ElastiCache::UserGroup named CacheUserGroup; got %v", slices.Collect(maps.Keys(groups)))
	}
	if g.Engine != "valkey" {
		t.Errorf("user group engine %q; want valkey, the cache's engine", g.Engine)
	}
	users := resources[*elasticache.User](s)
	secrets := map[string]string{} // password reference -> user
	var names []string
	for _, ref := range g.UserIds {
		id := strings.TrimSuffix(strings.TrimPrefix(ref, "${"), "}")
		u, ok := users[id]
		if !ok {
			t.Errorf("user group member %q is not an AWS::ElastiCache::User of the template", ref)
			continue
		}
		names = append(names, u.UserName)
		if u.Engine != "valkey" {
			t.Errorf("%s: engine %q; want valkey", id, u.Engine)
		}
		if deref(u.NoPasswordRequired) {
			t.Errorf("%s: NoPasswordRequired is set; a Valkey user group may only hold users that authenticate", id)
		}
		mode := ""
		if u.AuthenticationMode != nil {
			mode = u.AuthenticationMode.Type
		}
		switch mode {
		case "iam":
		case "password":
			if len(u.AuthenticationMode.Passwords) == 0 {
				t.Errorf("%s: password authentication with no password", id)
			}
			for _, p := range u.AuthenticationMode.Passwords {
				if !strings.HasPrefix(p, "{{resolve:secretsmanager:") {
					t.Errorf("%s: password %q is not resolved from Secrets Manager", id, p)
				}
				if other, dup := secrets[p]; dup {
					t.Errorf("%s shares its password with %s", id, other)
				}
				secrets[p] = id
			}
		default:
			t.Errorf("%s: authentication mode %q; a Valkey user group may only hold password or iam users", id, mode)
		}
		if u.UserName == "default" {
			// Nobody may connect as default: switched off, no commands.
			acc := strings.Fields(deref(u.AccessString))
			if !slices.Contains(acc, "off") || slices.Contains(acc, "on") || !slices.Contains(acc, "-@all") || slices.ContainsFunc(acc, func(r string) bool { return strings.HasPrefix(r, "+") }) {
				t.Errorf("%s: the default user's access %q; want it off and denied every command (\"off -@all\")", id, deref(u.AccessString))
			}
		}
	}
	if !slices.Contains(names, "recall") {
		t.Errorf("user group members %v lack the functions' user \"recall\"", names)
	}
	if c := resources[*elasticache.ServerlessCache](s)["Cache"]; c == nil || deref(c.UserGroupId) != symbol("CacheUserGroup") {
		t.Error("the serverless cache does not use CacheUserGroup")
	}
}
