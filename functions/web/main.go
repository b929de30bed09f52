// Command web is the Lambda function behind the public GET /,
// GET /assets/{proxy+}, GET /config.json and GET /api/openapi.json: the web
// app, built into the binary, and the API's OpenAPI document. It opens no
// store or queue and needs no Service; on AWS the page signs people in with
// OpenID Connect (RECALL_OIDC_*).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"recall/internal/config"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/web"
)

func main() {
	ctx := context.Background()
	log := lambdacontext.NewLogger()
	cfg, err := config.FromEnv(config.Lambda)
	exitOn(log, "configuration", err)
	log = lambdafn.Leveled(log, cfg.Log.Level)
	log.InfoContext(ctx, "recall function starting", "function", httpapi.FunctionWeb, "oidc_issuer", cfg.Web.Issuer, "oidc_client_id", cfg.Web.ClientID)
	if cfg.Web.Issuer == "" {
		exitOn(log, "configuration", fmt.Errorf("RECALL_OIDC_ISSUER is not set: on AWS the web app signs people in with OpenID Connect (template.yaml sets it)"))
	}
	app, err := web.New(web.Config{Auth: web.AuthOIDC, Issuer: cfg.Web.Issuer, ClientID: cfg.Web.ClientID, Scopes: cfg.Web.Scopes,
		TokenEndpoint: cfg.Web.TokenEndpoint, TokenUse: cfg.Web.TokenUse})
	exitOn(log, "web app", err)
	routes := httpapi.Routes(nil, httpapi.Options{Logger: log, Only: []string{httpapi.FunctionWeb}, Web: app})
	lambda.Start(lambdafn.HTTP(routes, lambdafn.WithLogger(log)))
}

// exitOn logs why the function cannot start and exits, so Lambda reports
// an init error, when err is not nil.
func exitOn(log *slog.Logger, what string, err error) {
	if err != nil {
		log.Error("web: start", "error", fmt.Sprintf("%s: %v", what, err))
		os.Exit(1)
	}
}
