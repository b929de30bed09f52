package deploy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation/iam"

	"recall/internal/bedrock"
	"recall/internal/lambdafn"
)

// appDeployment is the app template deployed to region with params, and
// with what the template requires but the test does not care about.
func appDeployment(t testing.TB, region string, params map[string]string) deployment {
	t.Helper()
	d := deployment{region: region, params: map[string]string{}}
	for _, name := range []string{"JwtIssuer", "JwtAudience"} {
		if p := appStack(t).tpl.Parameters[name]; p.Default == nil {
			d.params[name] = map[string]string{"JwtIssuer": "https://issuer.example.com", "JwtAudience": "client"}[name]
		}
	}
	for k, v := range params {
		d.params[k] = v
	}
	return d
}

// TestBedrockProfileMatchesRegion: an inference profile can only be called
// from a source region of its geography, so the template's Rules refuse a
// geography that does not match the region at deploy time.
func TestBedrockProfileMatchesRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		geo, region string
		ok          bool
	}{
		{"us", "us-east-1", true},
		{"us", "us-west-2", true},
		{"us", "eu-west-1", false},
		{"us", "ap-northeast-1", false},
		{"eu", "eu-west-1", true},
		{"eu", "eu-central-1", true},
		{"eu", "us-east-1", false},
		{"apac", "ap-southeast-1", true},
		{"apac", "eu-west-3", false},
		{"jp", "ap-northeast-1", true},
		{"jp", "ap-southeast-1", false},
		{"au", "ap-southeast-2", true},
		{"au", "ap-northeast-1", false},
	}
	for _, tt := range tests {
		t.Run(tt.geo+" in "+tt.region, func(t *testing.T) {
			t.Parallel()
			d := appDeployment(t, tt.region, map[string]string{"BedrockInferenceGeo": tt.geo})
			failed := newRuleEvaluator(t, appTemplate, d).failures()
			if ok := len(failed) == 0; ok != tt.ok {
				t.Fatalf("rule failures %v; want the deployment accepted %v", failed, tt.ok)
			}
			for _, f := range failed {
				if !strings.Contains(f, "BedrockInferenceGeo "+tt.geo) {
					t.Errorf("failure %q does not name the parameter and its value", f)
				}
			}
			if !tt.ok {
				return
			}
			s := loadStackAs(t, appTemplate, appStackName, d)
			_, model, _ := geoProfile(bedrock.DefaultModelID)
			want := tt.geo + "." + model
			if got := appFunctionsOf(t, s)[lambdafn.FunctionProcess].Env["BEDROCK_MODEL_ID"]; got != want {
				t.Errorf("BEDROCK_MODEL_ID = %q; want %q", got, want)
			}
			profile := fmt.Sprintf("arn:aws:bedrock:%s:%s:inference-profile/%s", tt.region, fakeAccount, want)
			policy, _ := json.Marshal(resources[*iam.Role](s)[roleOf(lambdafn.FunctionProcess)].Policies)
			if !strings.Contains(string(policy), `"`+profile+`"`) {
				t.Errorf("the process role does not grant the profile %s: %s", profile, policy)
			}
		})
	}
	// Every geography the parameter allows has its rule: none is accepted
	// in a region of no geography.
	geos := appStack(t).tpl.Parameters["BedrockInferenceGeo"].AllowedValues
	if len(geos) == 0 {
		t.Fatal("BedrockInferenceGeo has no AllowedValues")
	}
	for _, g := range geos {
		d := appDeployment(t, "xx-nowhere-1", map[string]string{"BedrockInferenceGeo": fmt.Sprint(g)})
		if len(newRuleEvaluator(t, appTemplate, d).failures()) == 0 {
			t.Errorf("BedrockInferenceGeo %v is accepted in any region: it has no rule", g)
		}
	}
}

// TestDefaultModelIsConfigs: deployed with its defaults, the stack calls the
// model config defaults to, in us-east-1 (samconfig.toml's region).
func TestDefaultModelIsConfigs(t *testing.T) {
	t.Parallel()
	if got := appFunctions(t)[lambdafn.FunctionProcess].Env["BEDROCK_MODEL_ID"]; got != bedrock.DefaultModelID {
		t.Errorf("BEDROCK_MODEL_ID under the defaults is %q; config's default is %s", got, bedrock.DefaultModelID)
	}
	if f := newRuleEvaluator(t, appTemplate, appDeployment(t, samconfig(t)["default.global.parameters"]["region"], nil)).failures(); len(f) > 0 {
		t.Errorf("the defaults break the rules in samconfig.toml's region: %v", f)
	}
}

// TestNoMarketplacePermissions records a decision: the functions' roles may
// not subscribe the account to models in AWS Marketplace. That one-time act
// accepts a model's EULA for the whole account, and ViewSubscriptions cannot
// be scoped, so an administrator makes the first call (README, "Model
// access") instead of a role holding it for good.
func TestNoMarketplacePermissions(t *testing.T) {
	t.Parallel()
	for _, st := range statements(t) {
		for _, a := range st.Actions {
			if strings.HasPrefix(strings.ToLower(a), "aws-marketplace:") {
				t.Errorf("%s/%s grants %s; the first call is an administrator's (README, Model access)", st.Role, st.Sid, a)
			}
		}
	}
}
