// Command web is the Lambda function behind the public GET /,
// GET /assets/{proxy+}, GET /config.json and GET /api/openapi.json: the web
// app, built into the binary, and the API's OpenAPI document. It opens no
// store or queue and needs no Service; on AWS the page signs people in with
// OpenID Connect (RECALL_OIDC_*).
package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"

	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/web"
)

func main() {
	ctx := context.Background()
	log, cfg := lambdafn.Boot(httpapi.FunctionWeb)
	log.InfoContext(ctx, "recall function starting", "function", httpapi.FunctionWeb, "oidc_issuer", cfg.Web.Issuer, "oidc_client_id", cfg.Web.ClientID)
	if cfg.Web.Issuer == "" {
		lambdafn.ExitOn(log, httpapi.FunctionWeb, "configuration", fmt.Errorf("RECALL_OIDC_ISSUER is not set: on AWS the web app signs people in with OpenID Connect (template.yaml sets it)"))
	}
	app, err := web.New(web.Config{Auth: web.AuthOIDC, Issuer: cfg.Web.Issuer, ClientID: cfg.Web.ClientID, Scopes: cfg.Web.Scopes,
		TokenEndpoint: cfg.Web.TokenEndpoint, TokenUse: cfg.Web.TokenUse})
	lambdafn.ExitOn(log, httpapi.FunctionWeb, "web app", err)
	routes := httpapi.Routes(nil, httpapi.Options{Logger: log, Only: []string{httpapi.FunctionWeb}, Web: app})
	lambda.Start(lambdafn.HTTP(routes, lambdafn.WithLogger(log)))
}
