package lambdafn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/recall"
)

// TestFixturesRoundTrip decodes each sample event into the type its
// function receives, with unknown fields refused, and encodes it again:
// everything the fixture says must survive, so no field is misspelt or
// mistyped.
func TestFixturesRoundTrip(t *testing.T) {
	t.Parallel()
	for name, newV := range map[string]func() any{
		"create.json":            func() any { return new(events.APIGatewayV2HTTPRequest) },
		"create-stage.json":      func() any { return new(events.APIGatewayV2HTTPRequest) },
		"get.json":               func() any { return new(events.APIGatewayV2HTTPRequest) },
		"list.json":              func() any { return new(events.APIGatewayV2HTTPRequest) },
		"search.json":            func() any { return new(events.APIGatewayV2HTTPRequest) },
		"delete.json":            func() any { return new(events.APIGatewayV2HTTPRequest) },
		"health.json":            func() any { return new(events.APIGatewayV2HTTPRequest) },
		"process-direct.json":    func() any { return new(lambdafn.DirectEvent) },
		"process-scheduled.json": func() any { return new(events.EventBridgeEvent) },
	} {
		t.Run(name, func(t *testing.T) {
			raw := fixture(t, name, "")
			v := newV()
			strictDecode(t, raw, v)
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again, &got); err != nil {
				t.Fatal(err)
			}
			if diff := subset(want, got, "$"); diff != "" {
				t.Errorf("lost in the round trip: %s", diff)
			}
		})
	}
}

// subset returns "" when every value in want is in got, else where not.
func subset(want, got any, path string) string {
	if w, ok := want.(map[string]any); ok {
		g, ok := got.(map[string]any)
		if !ok {
			return path + ": not an object"
		}
		for k, wv := range w {
			if d := subset(wv, g[k], path+"."+k); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("%s: %v became %v", path, want, got)
	}
	return ""
}

func TestFixturesThroughHandlers(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()

	// create.json: 201, owned by the authorizer's sub, request id from API Gateway.
	ev := httpEvent(t, "create.json", "")
	resp := invoke(t, function(svc, httpapi.FunctionCreate), ev)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.Body)
	}
	var created httpapi.Conversation
	if err := json.Unmarshal([]byte(resp.Body), &created); err != nil {
		t.Fatal(err)
	}
	if header(resp, "Location") != "/api/conversations/"+created.ID || header(resp, "X-Request-Id") != ev.RequestContext.RequestID ||
		header(resp, "Content-Type") != "application/json" || resp.IsBase64Encoded {
		t.Errorf("create headers: %v", resp.Headers)
	}
	if created.Title != "Weekly sync" || created.PostType != "meeting" || created.Priority != "high" {
		t.Errorf("created %+v", created)
	}
	if _, err := svc.Get(ctx, fixtureOwner, created.ID); err != nil {
		t.Errorf("not owned by the sub claim: %v", err)
	}
	// The fixture carries an Idempotency-Key: sending it again replays.
	resp = invoke(t, function(svc, httpapi.FunctionCreate), ev)
	if resp.StatusCode != http.StatusCreated || header(resp, "Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %v", resp.StatusCode, resp.Headers)
	}

	// create-stage.json: the /prod prefix is removed before routing.
	resp = invoke(t, function(svc, httpapi.FunctionCreate), httpEvent(t, "create-stage.json", ""))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create on stage: %d %s", resp.StatusCode, resp.Body)
	}

	// get.json with the created id.
	resp = invoke(t, function(svc, httpapi.FunctionGet), httpEvent(t, "get.json", created.ID))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get: %d %s", resp.StatusCode, resp.Body)
	}
	var got httpapi.Conversation
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || got.ID != created.ID || got.Content != created.Content {
		t.Errorf("get: %v %s", err, resp.Body)
	}
	// get.json as it stands names a conversation that does not exist.
	checkErrorResponse(t, invoke(t, function(svc, httpapi.FunctionGet), httpEvent(t, "get.json", "")), 404, recall.ENOTFOUND)

	// list.json: both conversations, newest first.
	resp = invoke(t, function(svc, httpapi.FunctionGet), httpEvent(t, "list.json", ""))
	var list httpapi.ConversationList
	if err := json.Unmarshal([]byte(resp.Body), &list); err != nil || resp.StatusCode != 200 || len(list.Items) != 2 || list.Items[1].ID != created.ID || list.NextCursor != nil {
		t.Errorf("list: %d %v %s", resp.StatusCode, err, resp.Body)
	}

	// health.json needs no authorizer.
	resp = invoke(t, function(svc, httpapi.FunctionHealth), httpEvent(t, "health.json", ""))
	var health httpapi.HealthReport
	if err := json.Unmarshal([]byte(resp.Body), &health); err != nil || resp.StatusCode != 200 || health.Status != "healthy" {
		t.Errorf("health: %d %s", resp.StatusCode, resp.Body)
	}

	// process-direct.json with the created id, and the owner it names.
	process := lambdafn.Process(svc, lambdafn.ProcessOptions{Worker: recall.WorkerConfig{Wait: 50 * time.Millisecond}})
	res, err := process(ctx, fixture(t, "process-direct.json", created.ID))
	if err != nil || res.Mode != lambdafn.ModeDirect || res.Outcome != recall.OutcomeDone || res.ConversationID != created.ID {
		t.Fatalf("direct: %+v %v", res, err)
	}
	resp = invoke(t, function(svc, httpapi.FunctionGet), httpEvent(t, "get.json", created.ID))
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || got.AIStatus != "done" || got.AISummary == nil || len(got.AIKeywords) == 0 {
		t.Errorf("after direct processing: %s", resp.Body)
	}

	// process-scheduled.json drains what is queued: the stage conversation
	// (the first one's job is still queued but its run is done: skipped).
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	res, err = process(dctx, fixture(t, "process-scheduled.json", ""))
	if err != nil || res.Mode != lambdafn.ModeScheduled || res.Drain == nil || res.Drain.Outcomes[recall.OutcomeDone] != 1 || res.Drain.Outcomes[recall.OutcomeSkipped] != 1 {
		t.Fatalf("scheduled: %+v %v", res.Drain, err)
	}
	page, err := svc.List(ctx, fixtureOwner, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range page.Items {
		if c.Status != recall.StatusDone {
			t.Errorf("%s is %s after the drain", c.ID, c.Status)
		}
	}

	// search.json reaches the get function's search, which this service
	// (no index, as on DynamoDB before the AWS index is configured) answers
	// 501; delete.json deletes through the create function (writes run
	// there, beside Redis, so a delete also drops the cached analysis), once.
	checkErrorResponse(t, invoke(t, function(svc, httpapi.FunctionGet), httpEvent(t, "search.json", "")), 501, recall.EUNSUPPORTED)
	if resp = invoke(t, function(svc, httpapi.FunctionCreate), httpEvent(t, "delete.json", created.ID)); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.Body)
	}
	checkErrorResponse(t, invoke(t, function(svc, httpapi.FunctionCreate), httpEvent(t, "delete.json", created.ID)), 404, recall.ENOTFOUND)
	checkErrorResponse(t, invoke(t, function(svc, httpapi.FunctionGet), httpEvent(t, "get.json", created.ID)), 404, recall.ENOTFOUND)
}
