package web

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/contract/webapi"
	"github.com/evolution-todo/todo/internal/service"
)

// AppID is web-app's Dapr app id.
const AppID = webapi.AppID

// Config is web-app's configuration, read from the environment once.
type Config struct {
	service.Common // APP_ADDR (default :8095), DAPR_*, APP_API_TOKEN, LOG_*, ...
	service.Public // HTTP_ADDR (default :8085)

	// PublicURL is where browsers reach the app: its scheme decides the
	// cookies' Secure flag and HSTS, its host is the only one the public
	// port answers (DNS rebinding), and it is the base of the OIDC
	// redirect URL.
	PublicURL string `env:"PUBLIC_URL" envDefault:"http://127.0.0.1:8085" check:"url"`
	// APIURL is todo-api's public HTTP address: the pages use the same
	// public API as every other client.
	APIURL     string `env:"TODO_API_URL" envDefault:"http://127.0.0.1:8080" check:"url" log:"url"`
	StateStore string `env:"STATE_STORE_NAME" envDefault:"statestore"` // sessions
	// LivePubSub is the pub/sub component of the live stream's
	// subscriptions: one consumer group per replica (components/pubsub-live.yaml).
	LivePubSub string `env:"LIVE_PUBSUB_NAME" envDefault:"live-pubsub"`

	// API tokens: web-app signs a short-lived EdDSA token of the signed-in
	// user for each call of the pages, with keys of its own, under its own
	// issuer; todo-api reads the public keys from the app port's
	// /.well-known/jwks.json.
	TokenKeys     string        `env:"API_TOKEN_KEYS" log:"secret"`                // Ed25519 seeds, base64, comma-separated; the first signs
	TokenIssuer   string        `env:"API_TOKEN_ISSUER" envDefault:"todo-web-app"` // webapi.DefaultIssuer
	TokenAudience string        `env:"API_TOKEN_AUDIENCE" envDefault:"todo-api"`   // webapi.DefaultAudience
	TokenTTL      time.Duration `env:"API_TOKEN_TTL" envDefault:"5m"`

	// CookieKeys seal the sign-in attempt's cookie and sign the session
	// cookie; the first is used, every one is accepted (rotation).
	CookieKeys string `env:"COOKIE_KEYS" log:"secret"`

	// DevSignIn lets anyone sign in with a user name alone. Refused unless
	// PUBLIC_URL is a loopback address and no OIDC issuer is set.
	DevSignIn bool `env:"DEV_SIGNIN"`

	OIDC OIDCConfig

	SessionTTL     time.Duration `env:"SESSION_TTL" envDefault:"12h"`
	StreamsPerUser int           `env:"STREAMS_PER_USER" envDefault:"8" check:"1..1000"`
	// StreamsPerClient caps the streams of one client address (an IPv6
	// /64), whatever identities it signs in with.
	StreamsPerClient int           `env:"STREAMS_PER_CLIENT" envDefault:"64" check:"1..1000000"`
	MaxStreams       int           `env:"MAX_STREAMS" envDefault:"10000" check:"1..1000000"`
	Heartbeat        time.Duration `env:"STREAM_HEARTBEAT" envDefault:"15s"`
	// An open stream confirms its session every StreamRecheck; one whose
	// session cannot be confirmed for StreamGrace (the store unreachable)
	// is closed.
	StreamRecheck time.Duration `env:"STREAM_RECHECK" envDefault:"1m"`
	StreamGrace   time.Duration `env:"STREAM_SESSION_GRACE" envDefault:"2m"`

	// Per client address: sign-in attempts (dev sign-in, the OIDC start
	// and callback) and stream opens, as token buckets.
	SignInPerMinute     float64 `env:"SIGNIN_RATE_PER_MINUTE" envDefault:"10" check:">=0"` // 0: no limit
	SignInBurst         int     `env:"SIGNIN_BURST" envDefault:"20" check:"1..1000000"`
	StreamOpenPerMinute float64 `env:"STREAM_OPEN_RATE_PER_MINUTE" envDefault:"60" check:">=0"` // 0: no limit
	StreamOpenBurst     int     `env:"STREAM_OPEN_BURST" envDefault:"30" check:"1..1000000"`
	// TrustedProxies are the proxies (CIDRs, comma-separated) whose
	// X-Forwarded-For names the client: the ingress controller's
	// addresses. From any other peer the header is ignored.
	TrustedProxies string `env:"TRUSTED_PROXIES"`
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

// maxTokenTTL is the longest API_TOKEN_TTL: todo-api refuses web-app's
// tokens that claim a longer life.
const maxTokenTTL = 15 * time.Minute

// maxStreamGrace bounds STREAM_SESSION_GRACE: a stream lives at most this
// long on a session it cannot confirm.
const maxStreamGrace = 2 * time.Minute

// settings are what LoadConfig derives from the variables, once.
type settings struct {
	public   *url.URL
	loopback bool // PUBLIC_URL's host is a loopback address or localhost
	signer   *auth.Signer
	cookies  *cookieKeys
	proxies  []netip.Prefix
}

// LoadConfig reads the configuration from environ (config.Environ() outside
// tests); the error lists every bad variable.
func LoadConfig(environ map[string]string) (Config, error) {
	c := Config{Common: service.Common{AppAddr: ":8095"}, Public: service.Public{HTTPAddr: ":8085"}}
	err := config.Parse(&c, environ)
	if err == nil {
		_, err = c.settings()
	}
	if err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// settings checks what no single variable's check can and derives the
// parsed values; the error names every problem.
func (c Config) settings() (settings, error) {
	var s settings
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	u, err := url.Parse(c.PublicURL)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
		bad("PUBLIC_URL=%q: must be an absolute http(s) URL", c.PublicURL)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		bad("PUBLIC_URL=%q: must be scheme://host[:port] alone: no user, path, query or fragment", c.PublicURL)
	default:
		s.public, s.loopback = u, isLoopbackHost(u.Hostname())
		if u.Scheme != "https" && !s.loopback {
			bad("PUBLIC_URL=%q: must be https outside a loopback address (the session cookie is Secure)", c.PublicURL)
		}
	}

	if c.DevSignIn {
		if s.public != nil && !s.loopback {
			bad("DEV_SIGNIN=true: refused with PUBLIC_URL=%q: the dev sign-in (a user name alone) is for a machine's own "+
				"loopback address only", c.PublicURL)
		}
		if c.OIDC.Issuer != "" {
			bad("DEV_SIGNIN=true: refused with OIDC_ISSUER set: anyone could sign in as any of the provider's users")
		}
	} else if c.OIDC.Issuer == "" {
		bad("OIDC_ISSUER: required unless DEV_SIGNIN=true (no way to sign in)")
	}
	if c.OIDC.Issuer != "" && c.OIDC.ClientID == "" {
		bad("OIDC_CLIENT_ID: required with OIDC_ISSUER")
	}

	if c.TokenKeys == "" {
		bad("API_TOKEN_KEYS: required: the Ed25519 key web-app signs API tokens with, the base64 of 32 random bytes (try: openssl rand -base64 32)")
	} else if keys, err := auth.ParseSigningKeys(c.TokenKeys); err != nil {
		bad("API_TOKEN_KEYS: %w", err)
	} else if s.signer, err = auth.NewSigner(keys, c.TokenIssuer, c.TokenAudience); err != nil {
		bad("API_TOKEN_KEYS: %w", err)
	}
	if c.TokenTTL > maxTokenTTL {
		bad("API_TOKEN_TTL=%v: must be at most %v (todo-api refuses longer ones)", c.TokenTTL, maxTokenTTL)
	}

	if s.cookies, err = parseCookieKeys(c.CookieKeys); err != nil {
		bad("COOKIE_KEYS: %w", err)
	}
	if c.StreamGrace > maxStreamGrace {
		bad("STREAM_SESSION_GRACE=%v: must be at most %v", c.StreamGrace, maxStreamGrace)
	}
	if s.proxies, err = parseProxies(c.TrustedProxies); err != nil {
		bad("TRUSTED_PROXIES=%q: %w", c.TrustedProxies, err)
	}
	return s, errors.Join(errs...)
}

// isLoopbackHost says whether host (a URL's Hostname: no port, no
// brackets) names this machine: localhost, or a loopback IP address.
// 127.todo.example.com is a name like any other.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// parseProxies reads TRUSTED_PROXIES: CIDRs or single addresses,
// comma-separated.
func parseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(list, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q: must be a CIDR such as 10.0.0.0/8 or an IP address", part)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// redirectURL is the OIDC callback.
func (s settings) redirectURL() string {
	return s.public.Scheme + "://" + s.public.Host + "/auth/callback"
}

// secure says whether the cookies are Secure and HSTS is sent: on https.
func (s settings) secure() bool { return s.public.Scheme == "https" }

// hostAllowed says whether a request's Host is this app's public one: the
// PUBLIC_URL's host (the default port may be left out), or, when that is a
// loopback address, any loopback name. Any other Host is a request meant
// for another site, as in DNS rebinding, where a page of the attacker's
// name comes to resolve to this server.
func (s settings) hostAllowed(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if s.loopback && isLoopbackHost(host) {
		return true
	}
	if !strings.EqualFold(host, strings.TrimSuffix(s.public.Hostname(), ".")) {
		return false
	}
	want := s.public.Port()
	if want == "" {
		want = map[string]string{"http": "80", "https": "443"}[s.public.Scheme]
	}
	return port == "" || port == want
}
