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

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/dapr/consumer"
	"github.com/evolution-todo/todo/internal/httpx"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
)

// App is web-app's HTTP side.
type App struct {
	cfg      Config
	log      *slog.Logger
	sessions *sessions
	hub      *hub
	oidc     *oidcClient // nil without OIDC_ISSUER
	tokens   auth.Config
	proxy    http.Handler
	assets   map[string]*asset
	now      func() time.Time
	stop     <-chan struct{} // closed when the app stops: streams end
	metrics  *telemetry.Metrics
}

// Run runs web-app until ctx ends (service.Main's run function).
var Run = service.App(AppID, LoadConfig, New)

// New builds web-app's handler.
func New(ctx context.Context, cfg Config, log *slog.Logger, m *telemetry.Metrics) (http.Handler, func(), error) {
	a, err := newApp(ctx, cfg, log, cfg.Dapr(), m, http.DefaultTransport)
	if err != nil {
		return nil, nil, err
	}
	return a.Handler(), nil, nil
}

// newApp wires the parts; state and transport are the seams of the tests
// (the transport reaches todo-api and the identity provider).
func newApp(ctx context.Context, cfg Config, log *slog.Logger, state StateStore, m *telemetry.Metrics, transport http.RoundTripper) (*App, error) {
	assets, err := loadAssets()
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(cfg.APIURL)
	if err != nil {
		return nil, fmt.Errorf("TODO_API_URL: %w", err)
	}
	a := &App{
		cfg: cfg, log: log, assets: assets, now: time.Now, stop: ctx.Done(), metrics: m,
		sessions: &sessions{state: state, store: cfg.StateStore, ttl: cfg.SessionTTL, secure: cfg.secureCookies(), now: time.Now},
		hub:      newHub(cfg.StreamsPerUser, cfg.MaxStreams),
		tokens:   auth.Config{Secret: []byte(cfg.JWTSecret), Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience},
	}
	a.proxy = newAPIProxy(target, transport, a)
	if cfg.OIDC.Issuer != "" {
		a.oidc = &oidcClient{cfg: cfg.OIDC, redirectURL: cfg.redirectURL(), http: &http.Client{Transport: transport, Timeout: 10 * time.Second}}
	}
	if m != nil {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "todo_web_streams", Help: "Open live streams (Server-Sent Events) of this replica.",
			ConstLabels: prometheus.Labels{"service": AppID},
		}, func() float64 { return float64(a.hub.count()) }))
	}
	return a, nil
}

// Handler is the whole app: the public routes for browsers, behind the
// cross-origin check, and the sidecar's routes behind the app token.
func (a *App) Handler() http.Handler {
	sidecar := (&consumer.App{
		Name: AppID, PubSub: a.cfg.LivePubSub, AppToken: a.cfg.AppAPIToken, Log: a.log, Telemetry: a.metrics,
		Subscriptions: a.subscriptions(),
	}).Handler()

	public := http.NewServeMux()
	public.HandleFunc("GET /{$}", a.serveAsset("index.html"))
	public.HandleFunc("GET /assets/{name...}", a.assetByPath)
	public.HandleFunc("GET /session", a.session)
	public.HandleFunc("POST /auth/dev", a.devSignIn)
	public.HandleFunc("GET /auth/login", a.oidcLogin)
	public.HandleFunc("GET /auth/callback", a.oidcCallback)
	public.HandleFunc("POST /auth/logout", a.signOut)
	public.HandleFunc("GET /stream", a.serveStream)
	public.HandleFunc("/api/", a.serveAPI)
	// Forms and fetches that change state must come from this origin: a
	// cross-site POST is refused with 403 (Sec-Fetch-Site / Origin).
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteError(w, http.StatusForbidden, "cross_origin", "a change must come from this site's own pages")
	}))
	public.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such page")
	})

	mux := http.NewServeMux()
	mux.Handle("/healthz", sidecar)
	mux.Handle("/readyz", sidecar)
	mux.Handle("/dapr/", sidecar)
	mux.Handle("/events/", sidecar)
	mux.Handle("/", a.metrics.Instrument(csrf.Handler(public)))
	return mux
}
