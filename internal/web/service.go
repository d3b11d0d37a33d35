// Package web is web-app, the system's face: it serves the pages (embedded
// in the binary), signs people in (a dev sign-in for local runs, OpenID
// Connect with PKCE in production), keeps their sessions in the Dapr state
// store, proxies the pages' calls to todo-api's public API with a token of
// the signed-in user, and pushes each user's task changes and reminders to
// their open pages as Server-Sent Events, from the event stream it
// subscribes to through its sidecar.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evolution-todo/todo/internal/contract/webapi"
	"github.com/evolution-todo/todo/internal/dapr/consumer"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/ratelimit"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// App is web-app's HTTP side.
type App struct {
	cfg         Config
	set         settings
	log         *slog.Logger
	sessions    *sessions
	hub         *hub
	oidc        *oidcClient // nil without OIDC_ISSUER
	signIns     *ratelimit.Limiter
	streamOpens *ratelimit.Limiter
	proxy       http.Handler
	assets      map[string]*asset
	now         func() time.Time
	stop        <-chan struct{} // closed when the app stops: streams end
	metrics     *telemetry.Metrics
	// started is when this replica started: live events from well before it
	// are a new consumer group's replay (stale).
	started time.Time
}

// Run runs web-app until ctx ends (service.Main's run function).
var Run = service.App(AppID, LoadConfig, New)

// New builds web-app's handlers.
func New(ctx context.Context, cfg Config, log *slog.Logger, m *telemetry.Metrics) (service.Handlers, func(), error) {
	a, err := newApp(ctx, cfg, log, cfg.Dapr(), m, http.DefaultTransport)
	if err != nil {
		return service.Handlers{}, nil, err
	}
	return a.Handlers(), nil, nil
}

// newApp wires the parts; state and transport are the seams of the tests
// (the transport reaches todo-api and the identity provider).
func newApp(ctx context.Context, cfg Config, log *slog.Logger, state StateStore, m *telemetry.Metrics, transport http.RoundTripper) (*App, error) {
	set, err := cfg.settings()
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	assets, err := loadAssets()
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(cfg.APIURL)
	if err != nil {
		return nil, fmt.Errorf("TODO_API_URL: %w", err)
	}
	perMinute := func(n float64) float64 { return n / 60 }
	a := &App{
		cfg: cfg, set: set, log: log, assets: assets, now: time.Now, stop: ctx.Done(), metrics: m, started: time.Now(),
		sessions: &sessions{state: state, store: cfg.StateStore, keys: set.cookies, ttl: cfg.SessionTTL,
			secure: set.secure(), now: time.Now},
		hub:         newHub(cfg.StreamsPerUser, cfg.StreamsPerClient, cfg.MaxStreams),
		signIns:     ratelimit.New(ratelimit.Config{PerSecond: perMinute(cfg.SignInPerMinute), Burst: cfg.SignInBurst}),
		streamOpens: ratelimit.New(ratelimit.Config{PerSecond: perMinute(cfg.StreamOpenPerMinute), Burst: cfg.StreamOpenBurst}),
	}
	a.proxy = newAPIProxy(target, telemetry.Transport(transport), a)
	if cfg.OIDC.Issuer != "" {
		a.oidc = &oidcClient{cfg: cfg.OIDC, redirectURL: set.redirectURL(), http: &http.Client{Transport: transport, Timeout: 10 * time.Second}}
	}
	if m != nil {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "todo_web_streams", Help: "Open live streams (Server-Sent Events) of this replica.",
			ConstLabels: prometheus.Labels{"service": AppID},
		}, func() float64 { return float64(a.hub.count()) }))
	}
	return a, nil
}

// Handlers are the app's two ports: the public one for browsers, behind
// the Host check and the cross-origin check, and the app port for the
// sidecar (subscriptions, deliveries, the JWK Set) and the probes.
func (a *App) Handlers() service.Handlers {
	sidecar := (&consumer.App{
		Name: AppID, PubSub: a.cfg.LivePubSub, AppToken: a.cfg.AppAPIToken, Log: a.log, Telemetry: a.metrics,
		Subscriptions: a.subscriptions(),
		Routes:        []consumer.Route{{Pattern: webapi.RouteJWKS, Handler: a.jwks}},
	}).Handler()

	public := http.NewServeMux()
	public.HandleFunc("GET /{$}", a.serveAsset("index.html"))
	public.HandleFunc("GET /assets/{name...}", a.assetByPath)
	public.HandleFunc("GET /session", a.session)
	public.HandleFunc("POST /auth/dev", a.devSignIn)
	public.HandleFunc("GET /auth/login", a.oidcLogin)
	public.HandleFunc("GET "+loginPath, a.oidcCallback)
	public.HandleFunc("POST /auth/logout", a.signOut)
	public.HandleFunc("GET /stream", a.serveStream)
	public.HandleFunc("/api/", a.serveAPI)
	public.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such page")
	})
	// Forms and fetches that change state must come from this origin: a
	// cross-site POST is refused with 403 (Sec-Fetch-Site / Origin).
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteError(w, http.StatusForbidden, "cross_origin", "a change must come from this site's own pages")
	}))
	return service.Handlers{App: sidecar, Public: a.metrics.Instrument(a.edge(csrf.Handler(public)))}
}

// hsts is the Strict-Transport-Security of an https PUBLIC_URL.
const hsts = "max-age=31536000"

// edge is the public port's first check: a request for any host but the
// PUBLIC_URL's is refused (421) before anything else runs, with no cookie
// set. So a page of another name that comes to resolve to this server (DNS
// rebinding) is not served as this site. On https, every answer carries
// HSTS.
func (a *App) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.set.secure() {
			w.Header().Set("Strict-Transport-Security", hsts)
		}
		if !a.set.hostAllowed(r.Host) {
			httpx.WriteError(w, http.StatusMisdirectedRequest, "wrong_host",
				"this server answers for "+a.set.public.Host+" only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jwks answers the public keys of the API tokens.
func (a *App) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=300")
	_, _ = w.Write(a.set.signer.JWKS())
}
