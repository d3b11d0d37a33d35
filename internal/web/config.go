package web

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
)

// AppID is web-app's Dapr app id.
const AppID = "web-app"

// Config is web-app's configuration, read from the environment once.
type Config struct {
	service.Common // HTTP_ADDR (default :8085), DAPR_*, APP_API_TOKEN, LOG_*, ...

	// PublicURL is where browsers reach the app. Its scheme decides the
	// cookie's Secure flag (https, or not on localhost) and it is the base
	// of the OIDC redirect URL.
	PublicURL string `env:"PUBLIC_URL" envDefault:"http://127.0.0.1:8085" check:"url"`
	// APIURL is todo-api's public HTTP address: the pages use the same
	// public API as every other client.
	APIURL     string `env:"TODO_API_URL" envDefault:"http://127.0.0.1:8080" check:"url" log:"url"`
	StateStore string `env:"STATE_STORE_NAME" envDefault:"statestore"` // sessions
	// LivePubSub is the pub/sub component of the live stream's
	// subscriptions: one consumer group per replica (components/pubsub-live.yaml).
	LivePubSub string `env:"LIVE_PUBSUB_NAME" envDefault:"live-pubsub"`

	// API tokens: web-app signs a short-lived token for the signed-in user
	// with todo-api's HS256 secret, issuer and audience.
	JWTSecret   string `env:"JWT_SECRET" log:"secret"`
	JWTIssuer   string `env:"JWT_ISSUER"`
	JWTAudience string `env:"JWT_AUDIENCE"`

	// DevSignIn lets anyone sign in with a user name alone. Off by default;
	// only the local launcher turns it on.
	DevSignIn bool `env:"DEV_SIGNIN"`

	OIDC OIDCConfig

	SessionTTL     time.Duration `env:"SESSION_TTL" envDefault:"12h"`
	StreamsPerUser int           `env:"STREAMS_PER_USER" envDefault:"8" check:"1..1000"`
	MaxStreams     int           `env:"MAX_STREAMS" envDefault:"10000" check:"1..1000000"`
	Heartbeat      time.Duration `env:"STREAM_HEARTBEAT" envDefault:"15s"`
}

// OIDCConfig is the identity provider of the production sign-in
// (authorization code flow with PKCE). Empty Issuer: no OIDC sign-in.
type OIDCConfig struct {
	Issuer       string `env:"OIDC_ISSUER" check:"url"`
	ClientID     string `env:"OIDC_CLIENT_ID"`
	ClientSecret string `env:"OIDC_CLIENT_SECRET" log:"secret"` // empty for a public client
	// ProviderName is shown on the sign-in button.
	ProviderName string `env:"OIDC_PROVIDER_NAME" envDefault:"your identity provider"`
	Scopes       string `env:"OIDC_SCOPES" envDefault:"openid profile email"`
}

// LoadConfig reads the configuration from environ (config.Environ() outside
// tests); the error lists every bad variable.
func LoadConfig(environ map[string]string) (Config, error) {
	c := Config{Common: service.Common{HTTPAddr: ":8085"}}
	if err := errors.Join(config.Parse(&c, environ), c.check()); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

func (c Config) check() error {
	var errs []error
	if len(c.JWTSecret) < auth.MinSecretLen {
		errs = append(errs, fmt.Errorf("JWT_SECRET: must be todo-api's HS256 secret, at least %d bytes", auth.MinSecretLen))
	}
	if !c.DevSignIn && c.OIDC.Issuer == "" {
		errs = append(errs, errors.New("OIDC_ISSUER: required unless DEV_SIGNIN=true (no way to sign in)"))
	}
	if c.OIDC.Issuer != "" && c.OIDC.ClientID == "" {
		errs = append(errs, errors.New("OIDC_CLIENT_ID: required with OIDC_ISSUER"))
	}
	if u, err := url.Parse(c.PublicURL); err == nil {
		if u.Path != "" && u.Path != "/" {
			errs = append(errs, fmt.Errorf("PUBLIC_URL=%q: must have no path", c.PublicURL))
		}
		if u.Scheme != "https" && !isLoopback(u.Hostname()) {
			errs = append(errs, fmt.Errorf("PUBLIC_URL=%q: must be https outside localhost (the session cookie is Secure)", c.PublicURL))
		}
	}
	return errors.Join(errs...)
}

// secureCookies says whether the session cookie is Secure: on https,
// which check requires but on localhost.
func (c Config) secureCookies() bool { return strings.HasPrefix(c.PublicURL, "https:") }

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

// redirectURL is the OIDC callback.
func (c Config) redirectURL() string { return strings.TrimSuffix(c.PublicURL, "/") + "/auth/callback" }
