package deploy

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/ec2"
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

// TestInfraZonesByID: the subnets are placed by Availability Zone ID, given
// as parameters, never by name (!GetAZs), since names map to different
// physical zones in each account and not every zone offers the interface
// endpoints and ElastiCache Serverless.
func TestInfraZonesByID(t *testing.T) {
	t.Parallel()
	raw := rawTemplate(t, infraTemplate)
	if b, _ := json.Marshal(raw["Resources"]); strings.Contains(string(b), "Fn::GetAZs") {
		t.Error("infra resources use Fn::GetAZs, which picks zones by name")
	}
	s := infraStack(t)
	pattern := map[string]*regexp.Regexp{}
	for _, name := range []string{"AvailabilityZoneIdA", "AvailabilityZoneIdB"} {
		p, ok := s.tpl.Parameters[name]
		if !ok {
			t.Fatalf("no parameter %s", name)
		}
		if p.Default != nil {
			t.Errorf("%s defaults to %v: a zone ID is only valid in one region, so the deployer must choose", name, p.Default)
		}
		re, err := regexp.Compile(deref(p.AllowedPattern))
		if err != nil || p.AllowedPattern == nil {
			t.Fatalf("%s: AllowedPattern %v: %v", name, p.AllowedPattern, err)
		}
		pattern[name] = re
		for _, ok := range []string{"use1-az1", "euw1-az3", "apne1-az4"} {
			if !re.MatchString(ok) {
				t.Errorf("%s refuses the zone ID %q", name, ok)
			}
		}
		for _, bad := range []string{"us-east-1a", "", "use1"} {
			if re.MatchString(bad) {
				t.Errorf("%s accepts %q, which is no zone ID", name, bad)
			}
		}
	}
	var zones []string
	for id, sn := range resources[*ec2.Subnet](s) {
		if sn.AvailabilityZone != nil {
			t.Errorf("%s: AvailabilityZone %q is a zone name", id, deref(sn.AvailabilityZone))
		}
		zones = append(zones, deref(sn.AvailabilityZoneId))
	}
	slices.Sort(zones)
	if want := []string{symbol("AvailabilityZoneIdA"), symbol("AvailabilityZoneIdB")}; !slices.Equal(zones, want) {
		t.Errorf("subnet zone IDs %v; want one subnet in each of %v", zones, want)
	}

	tests := []struct {
		a, b string
		ok   bool
	}{
		{"use1-az1", "use1-az2", true},
		{"use1-az4", "use1-az4", false},
	}
	for _, tt := range tests {
		d := deployment{region: "us-east-1", params: map[string]string{"AvailabilityZoneIdA": tt.a, "AvailabilityZoneIdB": tt.b}}
		got := newRuleEvaluator(t, infraTemplate, d).failures()
		if (len(got) == 0) != tt.ok {
			t.Errorf("zones %s and %s: rule failures %v; want accepted %v", tt.a, tt.b, got, tt.ok)
		}
		if tt.ok {
			var placed []string
			for _, sn := range resources[*ec2.Subnet](loadStackAs(t, infraTemplate, infraStackName, d)) {
				placed = append(placed, deref(sn.AvailabilityZoneId))
			}
			if slices.Sort(placed); !slices.Equal(placed, []string{tt.a, tt.b}) {
				t.Errorf("deployed with %s and %s, the subnets are in %v", tt.a, tt.b, placed)
			}
		}
	}
}

// samconfig is samconfig.toml as section -> key -> value. It reads only what
// the file uses: [env.command.parameters] headers and key = "string" or bare
// values, with # comments.
func samconfig(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	section := ""
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			out[section] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("samconfig.toml:%d: %q is not key = value", i+1, line)
			}
			v = strings.TrimSpace(v)
			if uq, err := strconv.Unquote(v); err == nil {
				v = uq
			}
			if section == "" {
				section = "."
				out[section] = map[string]string{}
			}
			out[section][strings.TrimSpace(k)] = v
		}
	}
	return out
}

// overrides parses SAM's parameter_overrides ("A=1 B=2").
func overrides(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		}
	}
	return out
}

// zoneIDPrefix is the prefix of a region's zone IDs: us-east-1 → use1,
// ap-northeast-1 → apne1, eu-central-1 → euc1.
func zoneIDPrefix(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return ""
	}
	dir := map[string]string{"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
		"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}[parts[1]]
	return parts[0] + dir + parts[2]
}

// TestSamconfigPinsOneRegion: Fn::ImportValue only sees exports of the same
// region, so both stacks must deploy to one region, and the zone IDs given
// to the infra stack must belong to it.
func TestSamconfigPinsOneRegion(t *testing.T) {
	t.Parallel()
	cfg := samconfig(t)
	app, infra := cfg["default.global.parameters"]["region"], cfg["infra.global.parameters"]["region"]
	if app == "" || app != infra {
		t.Fatalf("samconfig.toml: app region %q, infra region %q; want the same region set for both", app, infra)
	}
	if zoneIDPrefix(app) == "" {
		t.Fatalf("region %q is not a region name", app)
	}
	ov := overrides(cfg["infra.deploy.parameters"]["parameter_overrides"])
	for _, name := range []string{"AvailabilityZoneIdA", "AvailabilityZoneIdB"} {
		if z := ov[name]; !strings.HasPrefix(z, zoneIDPrefix(app)+"-az") {
			t.Errorf("infra %s = %q is not a zone of %s (IDs there start %s-az)", name, z, app, zoneIDPrefix(app))
		}
	}
	if f := newRuleEvaluator(t, infraTemplate, deployment{region: app, params: ov}).failures(); len(f) > 0 {
		t.Errorf("the infra stack as samconfig.toml deploys it breaks its rules: %v", f)
	}
	appOv := overrides(cfg["default.deploy.parameters"]["parameter_overrides"])
	if got, want := appOv["InfraStackName"], cfg["infra.deploy.parameters"]["stack_name"]; got == "" || got != want {
		t.Errorf("the app imports from stack %q; the infra stack is deployed as %q", got, want)
	}
}
