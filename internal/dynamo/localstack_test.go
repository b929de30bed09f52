package dynamo_test

import (
	"cmp"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"

	"recall/internal/dynamo"
	"recall/internal/recall/recalltest"
	"recall/internal/testenv"
)

// The local AWS stack's files, relative to this package.
const (
	composePath  = "../../docker-compose.yml"
	initScript   = "../../localstack/init/ready.d/10-create-table.sh"
	envJSONPath  = "../../env.json"
	stackNetwork = "recall"
)

type composeService struct {
	Image         string            `yaml:"image"`
	ContainerName string            `yaml:"container_name"`
	Command       []string          `yaml:"command"`
	Environment   map[string]string `yaml:"environment"`
	Volumes       []string          `yaml:"volumes"`
	Networks      []string          `yaml:"networks"`
	Healthcheck   *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		Name string `yaml:"name"`
	} `yaml:"networks"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatalf("read docker-compose.yml: %v", err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	return f
}

// interpolationDefault resolves compose's ${VAR:-default} to its default,
// which is what runs when the variable is unset.
func interpolationDefault(s string) string {
	re := regexp.MustCompile(`\$\{[A-Z0-9_]+:-([^}]*)\}`)
	return re.ReplaceAllString(s, "$1")
}

func TestComposeStack(t *testing.T) {
	f := loadCompose(t)
	ls, ok := f.Services["localstack"]
	if !ok {
		t.Fatal("no localstack service")
	}
	rd, ok := f.Services["redis"]
	if !ok {
		t.Fatal("no redis service")
	}

	t.Run("localstack image pinned to a release that starts without an account", func(t *testing.T) {
		image := interpolationDefault(ls.Image)
		repo, tag, ok := strings.Cut(image, ":")
		if !ok || repo != "localstack/localstack" {
			t.Fatalf("image %q: want localstack/localstack with a tag", image)
		}
		m := regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`).FindStringSubmatch(tag)
		if m == nil {
			t.Fatalf("tag %q is not a pinned x.y.z release", tag)
		}
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		// 4.15 and the calendar-versioned 2026.x images require an auth token.
		if major != 4 || minor > 14 {
			t.Fatalf("tag %q: releases after 4.14 refuse to start without LOCALSTACK_AUTH_TOKEN", tag)
		}
	})
	t.Run("localstack auth token only passed through", func(t *testing.T) {
		if v := ls.Environment["LOCALSTACK_AUTH_TOKEN"]; v != "${LOCALSTACK_AUTH_TOKEN:-}" {
			t.Fatalf("LOCALSTACK_AUTH_TOKEN = %q; pass it through from the environment, never a literal", v)
		}
	})
	t.Run("localstack runs dynamodb and the init script", func(t *testing.T) {
		if !slices.Contains(strings.Split(ls.Environment["SERVICES"], ","), "dynamodb") {
			t.Fatalf("SERVICES = %q, want dynamodb", ls.Environment["SERVICES"])
		}
		if !slices.Contains(ls.Volumes, "./localstack/init/ready.d:/etc/localstack/init/ready.d:ro") {
			t.Fatalf("volumes %q do not mount the init scripts", ls.Volumes)
		}
		info, err := os.Stat(initScript)
		if err != nil {
			t.Fatalf("init script: %v", err)
		}
		if info.Mode()&0o111 == 0 {
			t.Fatalf("%s is not executable; LocalStack skips it", initScript)
		}
	})
	t.Run("redis keeps queued jobs", func(t *testing.T) {
		if rd.ContainerName != "recall-redis" {
			t.Fatalf("redis container_name = %q", rd.ContainerName)
		}
		args := strings.Join(rd.Command, " ")
		for _, want := range []string{"redis-server", "--appendonly yes", "--maxmemory-policy noeviction"} {
			if !strings.Contains(args, want) {
				t.Fatalf("redis command %q lacks %q", args, want)
			}
		}
	})
	t.Run("health checks", func(t *testing.T) {
		for name, svc := range map[string]composeService{"localstack": ls, "redis": rd} {
			if svc.Healthcheck == nil || len(svc.Healthcheck.Test) < 2 {
				t.Fatalf("%s has no health check", name)
			}
		}
		if hc := strings.Join(ls.Healthcheck.Test, " "); !strings.Contains(hc, "dynamodb") || !strings.Contains(hc, "init/ready") {
			t.Fatalf("localstack health check %q should wait for dynamodb and the init scripts", hc)
		}
	})
	t.Run("named network", func(t *testing.T) {
		if n, ok := f.Networks[stackNetwork]; !ok || n.Name != stackNetwork {
			t.Fatalf("network %q must exist with name %q (sam local invoke --docker-network %s)", stackNetwork, stackNetwork, stackNetwork)
		}
		for name, svc := range map[string]composeService{"localstack": ls, "redis": rd} {
			if !slices.Contains(svc.Networks, stackNetwork) {
				t.Fatalf("%s is not on network %s", name, stackNetwork)
			}
		}
	})
	t.Run("env.json reaches the stack", func(t *testing.T) {
		raw, err := os.ReadFile(envJSONPath)
		if err != nil {
			t.Fatalf("read env.json: %v", err)
		}
		var env map[string]map[string]string
		if err := json.Unmarshal(raw, &env); err != nil {
			t.Fatalf("parse env.json: %v", err)
		}
		for _, fn := range []string{"CreateFunction", "GetFunction", "HealthFunction", "ProcessFunction"} {
			vars, ok := env[fn]
			if !ok {
				t.Fatalf("env.json has no %s", fn)
			}
			if vars["DYNAMODB_TABLE"] == "" || vars["DYNAMODB_TABLE"] != ls.Environment["DYNAMODB_TABLE"] {
				t.Fatalf("%s DYNAMODB_TABLE = %q but the init script creates %q", fn, vars["DYNAMODB_TABLE"], ls.Environment["DYNAMODB_TABLE"])
			}
			if u, err := url.Parse(vars["AWS_ENDPOINT_URL"]); err != nil || u.Host != "localstack:4566" {
				t.Fatalf("%s AWS_ENDPOINT_URL = %q, want the localstack service on 4566", fn, vars["AWS_ENDPOINT_URL"])
			}
			if u, err := url.Parse(vars["REDIS_URL"]); err != nil || u.Scheme != "redis" || u.Host != "redis:6379" {
				t.Fatalf("%s REDIS_URL = %q, want the redis service on 6379", fn, vars["REDIS_URL"])
			}
			// The functions refuse to start without a cursor key, and
			// every function must use the same one.
			if vars["RECALL_CURSOR_KEY"] == "" || vars["RECALL_CURSOR_KEY"] != env["GetFunction"]["RECALL_CURSOR_KEY"] {
				t.Fatalf("%s RECALL_CURSOR_KEY = %q; want the one key every function shares", fn, vars["RECALL_CURSOR_KEY"])
			}
			if vars["AWS_REGION"] != "us-east-1" || vars["RECALL_AI"] != "local" {
				t.Fatalf("%s: AWS_REGION %q, RECALL_AI %q", fn, vars["AWS_REGION"], vars["RECALL_AI"])
			}
		}
	})
}

// scriptArgs returns the heredoc JSON argument of each --flag in the init
// script, and whether --billing-mode PAY_PER_REQUEST is there.
func scriptArgs(t *testing.T) (map[string]string, bool) {
	t.Helper()
	raw, err := os.ReadFile(initScript)
	if err != nil {
		t.Fatalf("read init script: %v", err)
	}
	re := regexp.MustCompile(`(?s)--([a-z-]+) "\$\(cat <<'JSON'\n(.*?)\nJSON\n\)"`)
	args := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
		args[m[1]] = m[2]
	}
	return args, strings.Contains(string(raw), "--billing-mode PAY_PER_REQUEST")
}

// scriptTable is the table the init script creates, as a CreateTableInput.
func scriptTable(t *testing.T, name string) (*dynamodb.CreateTableInput, string) {
	t.Helper()
	args, payPerRequest := scriptArgs(t)
	in := &dynamodb.CreateTableInput{TableName: aws.String(name)}
	if payPerRequest {
		in.BillingMode = types.BillingModePayPerRequest
	}
	for flag, dst := range map[string]any{
		"attribute-definitions":    &in.AttributeDefinitions,
		"key-schema":               &in.KeySchema,
		"global-secondary-indexes": &in.GlobalSecondaryIndexes,
	} {
		body, ok := args[flag]
		if !ok {
			t.Fatalf("init script has no --%s heredoc", flag)
		}
		if err := json.Unmarshal([]byte(body), dst); err != nil {
			t.Fatalf("init script --%s: %v", flag, err)
		}
	}
	var ttl struct {
		Enabled       bool
		AttributeName string
	}
	if err := json.Unmarshal([]byte(args["time-to-live-specification"]), &ttl); err != nil || !ttl.Enabled {
		t.Fatalf("init script --time-to-live-specification: %v (%+v)", err, ttl)
	}
	return in, ttl.AttributeName
}

// canonical renders a table definition with sets sorted, for comparison.
func canonical(t *testing.T, in *dynamodb.CreateTableInput) string {
	t.Helper()
	c := *in
	c.AttributeDefinitions = slices.Clone(c.AttributeDefinitions)
	slices.SortFunc(c.AttributeDefinitions, func(a, b types.AttributeDefinition) int {
		return cmp.Compare(*a.AttributeName, *b.AttributeName)
	})
	c.GlobalSecondaryIndexes = slices.Clone(c.GlobalSecondaryIndexes)
	for i, g := range c.GlobalSecondaryIndexes {
		if g.Projection != nil {
			p := *g.Projection
			p.NonKeyAttributes = slices.Sorted(slices.Values(p.NonKeyAttributes))
			g.Projection = &p
		}
		c.GlobalSecondaryIndexes[i] = g
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInitScriptMatchesTableDefinition(t *testing.T) {
	got, ttl := scriptTable(t, "recall")
	if g, w := canonical(t, got), canonical(t, dynamo.TableDefinition("recall")); g != w {
		t.Fatalf("localstack init script creates\n%s\nbut dynamo.TableDefinition is\n%s", g, w)
	}
	if ttl != dynamo.TTLAttribute {
		t.Fatalf("init script enables TTL on %q, the store writes %q", ttl, dynamo.TTLAttribute)
	}
}

// TestStoreOnInitScriptTable runs the store on a table made from the init
// script's own arguments, so the script is checked by use, not only by
// comparison.
func TestStoreOnInitScriptTable(t *testing.T) {
	ctx := t.Context()
	client := testenv.DynamoClient(t, testenv.StartDynalite(t))
	name := "recall-init-script-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	in, _ := scriptTable(t, name)
	if _, err := client.CreateTable(ctx, in); err != nil {
		t.Fatalf("CreateTable from the init script: %v", err)
	}
	t.Cleanup(func() { client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, time.Minute); err != nil {
		t.Fatalf("wait for table: %v", err)
	}
	s := dynamo.New(client, name, dynamo.Options{})
	c := recalltest.NewConversation("alice", time.Now().Add(-time.Minute))
	if _, _, err := s.Create(ctx, c, nil); err != nil {
		t.Fatalf("Create: %v", err)
	}
	items, _, err := s.Stuck(ctx, time.Now(), "", 10)
	if err != nil || len(items) != 1 || items[0].ID != c.ID {
		t.Fatalf("Stuck = %d items, %v", len(items), err)
	}
}
