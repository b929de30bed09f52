// Package httpapi is Recall's HTTP interface: the routes of the public API,
// the JSON shapes a client sees, and the one table that turns recall error
// codes into HTTP statuses. It knows nothing about where it runs; the local
// runner serves it with net/http and the Lambda functions through
// internal/lambdafn, each function serving only its own routes (Options.Only).
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"

	"recall/internal/recall"
)

// Authenticator decides who is calling. It lives here, with the code that
// consumes it, so that package auth (and any test) can implement it without
// importing the HTTP layer's internals.
type Authenticator interface {
	// Authenticate returns the owner (the subject every conversation is
	// scoped to) or an error. Errors should be *recall.Error with code
	// recall.EUNAUTHORIZED and a message saying what is wrong with the
	// credentials; any other error becomes a 500.
	Authenticate(r *http.Request) (owner string, err error)
}

// AuthenticatorFunc lets a plain function serve as an Authenticator.
type AuthenticatorFunc func(r *http.Request) (string, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (string, error) { return f(r) }

// DefaultMaxBodyBytes is the largest request body the API reads (1 MiB): room
// for 100,000 characters of content even when every one is escaped.
const DefaultMaxBodyBytes = 1 << 20

// Options configures Routes.
type Options struct {
	// Auth authenticates every route except health. It is required: with a
	// nil Auth the protected routes answer 500 rather than serve anyone.
	Auth Authenticator
	// Logger receives one line per request. Nil discards.
	Logger *slog.Logger
	// Only limits the handler to some routes, so each Lambda function serves
	// just its own. Each entry is a route name (RouteCreate, …) or a function
	// name (FunctionCreate, …) standing for every route that function serves.
	// Empty serves everything. Requests for routes left out answer 404 (or
	// 405 when the path is served with another method).
	Only []string
	// MaxBodyBytes bounds request bodies; DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
	// MaxListBytes bounds one list response; a page whose JSON would be
	// larger is served with fewer items (and a cursor to the rest). Lambda
	// responses cannot exceed 6 MB, so the default is 5 MiB.
	MaxListBytes int
	// Web serves the web app's routes (RouteWebPage, RouteWebAssets,
	// RouteWebConfig): the page, its assets and /config.json. The API only
	// routes to it, so it knows nothing of assets; package web provides
	// one. Nil leaves those routes out (they answer 404 like any unknown
	// path).
	Web http.Handler
}

// Route names, used in logs, in Options.Only and in RouteTable.
const (
	RouteCreate    = "create"
	RouteReprocess = "reprocess"
	RouteGet       = "get"
	RouteList      = "list"
	// RouteActionItems lists action items across conversations and
	// RouteActionItem ticks one off (items.go).
	RouteActionItems = "action_items"
	RouteActionItem  = "action_item"
	RouteSearch      = "search"
	RouteDelete      = "delete"
	RouteHealth      = "health"
	RouteOpenAPI     = "openapi"
	RouteWebPage     = "web_page"
	RouteWebAssets   = "web_assets"
	RouteWebConfig   = "web_config"
)

// Function names: which Lambda function serves a route.
const (
	FunctionCreate = "create"
	FunctionGet    = "get"
	FunctionHealth = "health"
	// FunctionWeb serves the public, static documents: the web app's page,
	// assets and configuration, and the OpenAPI document.
	FunctionWeb = "web"
)

// Route is one entry of the API: what template.yaml must route to which
// function. Pattern is in API Gateway's syntax ("/api/conversations/{id}",
// and "{proxy+}" for the rest of a path); the handler also answers it with a
// trailing slash.
type Route struct {
	Name     string
	Method   string
	Pattern  string
	Function string
	// Public routes skip authentication.
	Public bool
}

// RouteTable lists every route of the API, in a stable order.
func RouteTable() []Route {
	return []Route{
		{Name: RouteCreate, Method: http.MethodPost, Pattern: "/api/conversations", Function: FunctionCreate},
		{Name: RouteList, Method: http.MethodGet, Pattern: "/api/conversations", Function: FunctionGet},
		{Name: RouteGet, Method: http.MethodGet, Pattern: "/api/conversations/{id}", Function: FunctionGet},
		{Name: RouteDelete, Method: http.MethodDelete, Pattern: "/api/conversations/{id}", Function: FunctionCreate},
		{Name: RouteSearch, Method: http.MethodGet, Pattern: "/api/search", Function: FunctionGet},
		{Name: RouteReprocess, Method: http.MethodPost, Pattern: "/api/conversations/{id}/reprocess", Function: FunctionCreate},
		{Name: RouteActionItems, Method: http.MethodGet, Pattern: "/api/action-items", Function: FunctionGet},
		{Name: RouteActionItem, Method: http.MethodPatch, Pattern: "/api/conversations/{id}/action-items/{item_id}", Function: FunctionCreate},
		{Name: RouteHealth, Method: http.MethodGet, Pattern: "/api/health", Function: FunctionHealth, Public: true},
		{Name: RouteOpenAPI, Method: http.MethodGet, Pattern: "/api/openapi.json", Function: FunctionWeb, Public: true},
		{Name: RouteWebPage, Method: http.MethodGet, Pattern: "/", Function: FunctionWeb, Public: true},
		{Name: RouteWebAssets, Method: http.MethodGet, Pattern: "/assets/{proxy+}", Function: FunctionWeb, Public: true},
		{Name: RouteWebConfig, Method: http.MethodGet, Pattern: "/config.json", Function: FunctionWeb, Public: true},
	}
}

// webRoute reports whether rt is served by Options.Web.
func webRoute(rt Route) bool {
	return rt.Name == RouteWebPage || rt.Name == RouteWebAssets || rt.Name == RouteWebConfig
}

// needsService reports whether rt calls the Service: every route except the
// static documents (the web app's and the OpenAPI document).
func needsService(rt Route) bool { return rt.Function != FunctionWeb }

// muxPatterns turns an API Gateway route pattern into the ServeMux patterns
// that serve it: "{proxy+}" becomes "{proxy...}", "/" matches only the root
// (not the whole tree below it, as a bare "/" would), and every other path
// also gets its trailing-slash variant, anchored with "{$}" so it matches
// exactly that path.
func muxPatterns(p string) []string {
	switch {
	case p == "/":
		return []string{"/{$}"}
	case strings.HasSuffix(p, "+}"):
		return []string{p[:len(p)-2] + "...}"}
	}
	return []string{p, p + "/{$}"}
}

// Routes returns the API as an http.Handler: routing, authentication, body
// limits, error rendering, panic recovery and one log line per request.
//
// svc may be nil for a handler that serves only the static documents
// (Options.Only naming FunctionWeb): the web function opens no store or
// queue, so it has no Service to give. With a nil svc, any route that needs
// the Service and is not left out by Only answers 500 ("no Service
// configured") and Routes logs that once, rather than failing later on a
// nil pointer.
func Routes(svc *recall.Service, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxListBytes <= 0 {
		opts.MaxListBytes = 5 << 20
	}
	a := &api{svc: svc, opts: opts, log: opts.Logger, mux: http.NewServeMux(), routes: map[string]Route{}}
	handlers := map[string]handlerFunc{
		RouteCreate:      a.create,
		RouteList:        a.list,
		RouteGet:         a.get,
		RouteSearch:      a.search,
		RouteDelete:      a.delete,
		RouteReprocess:   a.reprocess,
		RouteActionItems: a.listItems,
		RouteActionItem:  a.patchItem,
		RouteHealth:      a.health,
		RouteOpenAPI:     a.openapi,
	}
	if opts.Web != nil {
		web := func(w http.ResponseWriter, r *http.Request) error {
			opts.Web.ServeHTTP(w, r)
			return nil
		}
		handlers[RouteWebPage], handlers[RouteWebAssets], handlers[RouteWebConfig] = web, web, web
	}
	if svc == nil {
		var served []string
		for _, rt := range RouteTable() {
			if needsService(rt) && (len(opts.Only) == 0 || slices.Contains(opts.Only, rt.Name) || slices.Contains(opts.Only, rt.Function)) {
				handlers[rt.Name] = noService
				served = append(served, rt.Name)
			}
		}
		if len(served) > 0 {
			a.log.Error("httpapi: no Service given; these routes answer 500", "routes", strings.Join(served, ","))
		}
	}
	for _, name := range opts.Only {
		if !slices.ContainsFunc(RouteTable(), func(rt Route) bool { return rt.Name == name || rt.Function == name }) {
			a.log.Error("httpapi: Options.Only names no route or function; it is ignored", "name", name)
		}
	}
	methods := map[string]bool{}
	for _, rt := range RouteTable() {
		if len(opts.Only) > 0 && !slices.Contains(opts.Only, rt.Name) && !slices.Contains(opts.Only, rt.Function) {
			continue
		}
		if webRoute(rt) && opts.Web == nil {
			continue
		}
		h := a.serve(rt, handlers[rt.Name])
		for _, p := range muxPatterns(rt.Pattern) {
			pat := rt.Method + " " + p
			a.mux.Handle(pat, h)
			a.routes[pat] = rt
		}
		methods[rt.Method] = true
		if rt.Method == http.MethodGet {
			methods[http.MethodHead] = true
		}
	}
	for m := range methods {
		a.methods = append(a.methods, m)
	}
	slices.Sort(a.methods)
	return a
}

// noService is the endpoint of a route that needs the Service when Routes
// was given none: a wiring mistake, reported to the client as an internal
// error (and logged with the request) instead of a nil dereference.
func noService(http.ResponseWriter, *http.Request) error {
	return recall.Errorf(recall.EINTERNAL, "httpapi: no Service configured for this route")
}

// api is the handler Routes returns.
type api struct {
	svc     *recall.Service
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	routes  map[string]Route // by full mux pattern
	methods []string         // every method some route answers, for Allow
}

// handlerFunc is an endpoint: it writes a success response or returns an
// error, which ServeHTTP renders through the status table.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// ServeHTTP wraps routing so that ServeMux's own plain-text 404 and 405
// answers and its redirects for unclean paths never reach a client: every
// answer is JSON.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.edge(w, r, func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.EscapedPath()
		if p == "" || p != cleanPath(p) {
			// ServeMux would redirect "/a//b" or "/a/../b"; no route of ours
			// is reached that way.
			writeError(w, r, recall.Errorf(recall.ENOTFOUND, "No route for path %q.", recall.Truncate(p, 100)))
			return
		}
		if _, pat := a.mux.Handler(r); a.known(pat) && !subtreeRedirect(p, pat) {
			a.mux.ServeHTTP(w, r)
			return
		}
		if allow := a.allowed(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, r, recall.Errorf(recall.EMETHOD, "Method %s is not allowed here; allowed: %s.", recall.Truncate(r.Method, 20), strings.Join(allow, ", ")))
			return
		}
		writeError(w, r, recall.Errorf(recall.ENOTFOUND, "No route for %s %s.", recall.Truncate(r.Method, 20), recall.Truncate(p, 100)))
	})
}

// subtreeRedirect reports whether ServeMux would answer path p, matched to
// pat, with a redirect rather than the route: it sends "/assets" to
// "/assets/" when a pattern like "/assets/{proxy...}" is registered.
func subtreeRedirect(p, pat string) bool {
	_, route, _ := strings.Cut(pat, " ")
	if !strings.HasSuffix(route, "...}") {
		return false
	}
	prefix := route[:strings.LastIndex(route, "{")]
	return !strings.HasPrefix(p, prefix)
}

// known reports whether pat is one of the patterns Routes registered (and not
// a redirect or error handler ServeMux made up).
func (a *api) known(pat string) bool {
	_, ok := a.routes[pat]
	return ok
}

// allowed lists the methods that would reach a route at r's path.
func (a *api) allowed(r *http.Request) []string {
	var allow []string
	for _, m := range a.methods {
		probe := *r
		probe.Method = m
		if _, pat := a.mux.Handler(&probe); a.known(pat) && !subtreeRedirect(r.URL.EscapedPath(), pat) {
			allow = append(allow, m)
		}
	}
	return allow
}

// serve adapts an endpoint: it records the route for the log, authenticates
// protected routes, limits the body, and renders a returned error.
func (a *api) serve(rt Route, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := infoFrom(r.Context())
		if info != nil {
			info.route = rt.Name
		}
		if !rt.Public {
			if a.opts.Auth == nil {
				writeError(w, r, recall.Errorf(recall.EINTERNAL, "httpapi: no Authenticator configured"))
				return
			}
			owner, err := a.opts.Auth.Authenticate(r)
			if err == nil && owner == "" {
				err = recall.Errorf(recall.EUNAUTHORIZED, "The credentials name no subject.")
			}
			if err != nil {
				writeError(w, r, err)
				return
			}
			if info != nil {
				info.owner = owner
			}
			r = r.WithContext(context.WithValue(r.Context(), ownerKey{}, owner))
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes)
		if err := h(w, r); err != nil {
			writeError(w, r, err)
		}
	})
}

type ownerKey struct{}

// owner returns the authenticated owner of r.
func owner(r *http.Request) string {
	s, _ := r.Context().Value(ownerKey{}).(string)
	return s
}

// cleanPath is ServeMux's canonical form of a path: absolute, no "." or ".."
// elements, no doubled slashes, trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			np = p
		} else {
			np += "/"
		}
	}
	return np
}
