package deploy

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7/cloudformation/elasticache"
	"github.com/redis/go-redis/v9"

	"recall/internal/bedrock"
	"recall/internal/bedrock/bedrocktest"
	"recall/internal/dynamo"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/testenv"
)

// TestDeployedShapeUnderEmulator runs the functions under the emulator as
// template.yaml deploys them: each with the environment the template gives
// it, with what only exists in AWS swapped for real local servers speaking
// the same protocols: the table in dynalite (DynamoDB's API), the queue in a
// Redis Cluster (as ElastiCache Serverless is), the model behind the
// Bedrock Runtime wire fake, and the process function's own emulator as the
// Lambda Invoke endpoint the create function nudges.
//
// It proves the low-latency path (create's asynchronous nudge makes the
// process function analyse the conversation with no schedule involved) and
// the backstop (a conversation whose nudge fails waits in the queue until a
// scheduled process run drains it).
func TestDeployedShapeUnderEmulator(t *testing.T) {
	requireEmulator(t)
	bins := buildFunctions(t, runtime.GOARCH)
	fns := appFunctions(t)

	dynamoURL := testenv.StartDynalite(t)
	cluster := testenv.StartRedisCluster(t)
	model := bedrocktest.NewServer(t, bedrocktest.Options{})
	const table = "recall-deploy-shape"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.New(testenv.DynamoClient(t, dynamoURL), table, dynamo.Options{}).CreateTable(ctx); err != nil {
		t.Fatalf("create table: %v", err)
	}

	// The functions log in as the cache user infra/recall-infra.yaml
	// defines, with its access string, so a command or key the ACL forbids
	// fails here as it would in ElastiCache.
	user := resources[*elasticache.User](infraStack(t))["CacheAppUser"]
	if user == nil {
		t.Fatal("infra/recall-infra.yaml defines no CacheAppUser")
	}
	const password = "deploy-shape-cache-password"
	acl := []any{"ACL", "SETUSER", user.UserName, "reset"}
	for _, rule := range strings.Fields(deref(user.AccessString)) {
		acl = append(acl, rule)
		if rule == "on" {
			acl = append(acl, ">"+password)
		}
	}
	for _, addr := range cluster.Addrs() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		err := c.Do(ctx, acl...).Err()
		c.Close()
		if err != nil {
			t.Fatalf("ACL SETUSER on %s: %v", addr, err)
		}
	}
	redisURL := "redis://" + url.UserPassword(user.UserName, password).String() + "@" + cluster.Addrs()[0]

	// The environment template.yaml gives function name, with deployed
	// resources replaced by the local ones.
	envOf := func(name string, extra map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range fns[name].Env {
			switch {
			case k == "DYNAMODB_TABLE":
				v = table
			case k == "RECALL_CURSOR_KEY":
				v = "deploy-shape-cursor-key"
			case k == "REDIS_URL":
				v = redisURL
			case k == "RECALL_PROCESS_FUNCTION":
				v = "function" // the emulator serves its function under this name
			case k == "RECALL_VECTOR_BUCKET" || k == "RECALL_VECTOR_INDEX":
				// Search on AWS is off here: it needs one Bedrock
				// endpoint serving Converse and Titan's InvokeModel,
				// and an S3 Vectors fake taking these credentials.
				// internal/backends tests it against its fakes.
				v = ""
			case strings.Contains(v, "${") || strings.Contains(v, "{{resolve:"):
				t.Fatalf("%s: %s=%q names a deployed resource this test does not replace", name, k, v)
			}
			env[k] = v
		}
		env["AWS_ACCESS_KEY_ID"] = bedrocktest.AccessKeyID
		env["AWS_SECRET_ACCESS_KEY"] = bedrocktest.SecretAccessKey
		env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamoURL
		env["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = model.URL
		env["RECALL_LOG_LEVEL"] = "warn"
		// The emulator gives the function the deadline and memory size the
		// template does.
		g := globals(t, appStack(t))
		timeout, memory := deref(fns[name].F.Timeout), deref(fns[name].F.MemorySize)
		if timeout == 0 {
			timeout = deref(g.Timeout)
		}
		if memory == 0 {
			memory = deref(g.MemorySize)
		}
		env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.Itoa(timeout)
		env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(memory)
		for k, v := range extra {
			env[k] = v
		}
		return env
	}

	process := startEmulator(t, "process", bins["process"], envOf(lambdafn.FunctionProcess, nil))
	create := startEmulator(t, "create", bins["create"], envOf(httpapi.FunctionCreate, map[string]string{
		"AWS_ENDPOINT_URL_LAMBDA": "http://" + process.addr,
	}))
	get := startEmulator(t, "get", bins["get"], envOf(httpapi.FunctionGet, nil))
	createEv := sampleEvent(t, "create")
	getEv := sampleEvent(t, "get")

	status := func(t *testing.T, id string) map[string]any {
		t.Helper()
		return decodeHTTP(t, get.invoke(t, mustJSON(t, forID(getEv, id))), http.StatusOK)
	}
	waitDone := func(t *testing.T, id, why string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			c := status(t, id)
			if c["ai_status"] == "done" {
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: conversation %s is still %v after 15s (ai_error %v)\nprocess:\n%s\ncreate:\n%s", why, id, c["ai_status"], c["ai_error"], process.out.String(), create.out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	t.Run("nudge", func(t *testing.T) {
		body := decodeHTTP(t, create.invoke(t, mustJSON(t, createEv)), http.StatusCreated)
		id, _ := body["id"].(string)
		if id == "" {
			t.Fatalf("create answered %v", body)
		}
		c := waitDone(t, id, "the create function's nudge should have run the process function")
		if c["ai_model"] != fns[lambdafn.FunctionProcess].Env["BEDROCK_MODEL_ID"] {
			t.Errorf("analysed by %v; want the template's BEDROCK_MODEL_ID %s", c["ai_model"], fns[lambdafn.FunctionProcess].Env["BEDROCK_MODEL_ID"])
		}
		reqs := model.Requests()
		if len(reqs) == 0 || reqs[0].ModelID != bedrock.DefaultModelID {
			t.Errorf("the model fake saw %d requests (first for %q); want Converse on %s", len(reqs), firstModel(reqs), bedrock.DefaultModelID)
		}
	})

	t.Run("scheduled drain", func(t *testing.T) {
		// A create whose nudge cannot reach Lambda still answers 201; the
		// job waits in the queue for the schedule.
		lost := startEmulator(t, "create", bins["create"], envOf(httpapi.FunctionCreate, map[string]string{
			"AWS_ENDPOINT_URL_LAMBDA": "http://" + freeAddr(t),
		}))
		ev := withBody(createEv, `{"content": "Retro. Kim will write up the outage timeline. We should add an alert on queue age."}`, "deploy-shape-lost-nudge")
		body := decodeHTTP(t, lost.invoke(t, mustJSON(t, ev)), http.StatusCreated)
		id, _ := body["id"].(string)
		time.Sleep(200 * time.Millisecond)
		if c := status(t, id); c["ai_status"] != "pending" {
			t.Fatalf("with the nudge lost, %s is %v before any drain; want pending", id, c["ai_status"])
		}
		var res processResult
		raw := process.invoke(t, mustJSON(t, sampleEvent(t, "process-scheduled")))
		if err := json.Unmarshal(raw, &res); err != nil || res.Mode != "scheduled" || res.Drain == nil || res.Drain.Outcomes["done"] < 1 {
			t.Fatalf("scheduled process answered %s; want the drain to take the queued job to done", raw)
		}
		waitDone(t, id, "the scheduled drain should have analysed it from the queue")
	})
}

func firstModel(r []bedrocktest.Request) string {
	if len(r) == 0 {
		return ""
	}
	return r[0].ModelID
}
