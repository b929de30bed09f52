package lambdafn_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/recall"
)

// asRoute turns the get fixture into a request for method and path, with
// body, as API Gateway would send it for that route.
func asRoute(t *testing.T, method, routeKey, path, query, body string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	ev := httpEvent(t, "get.json", "")
	ev.RouteKey, ev.RequestContext.RouteKey = routeKey, routeKey
	ev.RawPath, ev.RequestContext.HTTP.Path, ev.RequestContext.HTTP.Method = path, path, method
	ev.RawQueryString, ev.Body = query, body
	if body != "" {
		ev.Headers["content-type"] = "application/json"
	}
	return ev
}

// TestActionItemRoutes: the get function lists action items and the
// create function ticks them off, each through its Lambda adapter; neither
// serves the other's route.
func TestActionItemRoutes(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	c, _, err := svc.Create(ctx, fixtureOwner, recall.CreateRequest{Content: "Alice: I will send the deck by 2026-12-11."}, "")
	if err != nil {
		t.Fatal(err)
	}
	process := lambdafn.Process(svc, lambdafn.ProcessOptions{Worker: recall.WorkerConfig{Wait: 50 * time.Millisecond}})
	if res, err := process(ctx, fixture(t, "process-direct.json", c.ID)); err != nil || res.Outcome != recall.OutcomeDone {
		t.Fatalf("process: %+v %v", res, err)
	}

	list := asRoute(t, "GET", "GET /api/action-items", "/api/action-items", "status=open", "")
	resp := invoke(t, function(svc, httpapi.FunctionGet), list)
	var page httpapi.ActionItemList
	if err := json.Unmarshal([]byte(resp.Body), &page); err != nil || resp.StatusCode != http.StatusOK || len(page.Items) != 1 {
		t.Fatalf("list: %d %v %s", resp.StatusCode, err, resp.Body)
	}
	it := page.Items[0]

	path := "/api/conversations/" + c.ID + "/action-items/" + it.ID
	patch := asRoute(t, "PATCH", "PATCH /api/conversations/{id}/action-items/{item_id}", path, "", `{"done": true}`)
	resp = invoke(t, function(svc, httpapi.FunctionCreate), patch)
	var got httpapi.ActionItem
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil || resp.StatusCode != http.StatusOK || !got.Done || got.ID != it.ID {
		t.Fatalf("patch: %d %v %s", resp.StatusCode, err, resp.Body)
	}

	// Each function serves only its own routes.
	if resp := invoke(t, function(svc, httpapi.FunctionGet), patch); resp.StatusCode == http.StatusOK {
		t.Errorf("the get function served the PATCH: %s", resp.Body)
	}
	if resp := invoke(t, function(svc, httpapi.FunctionCreate), list); resp.StatusCode == http.StatusOK {
		t.Errorf("the create function served the listing: %s", resp.Body)
	}
}
