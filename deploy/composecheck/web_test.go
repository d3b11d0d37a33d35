package composecheck

// web-app in compose: the dev sign-in only on the machine's own loopback
// interface, its signing and cookie keys well formed, and todo-api
// accepting its tokens.

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// isLoopbackHost says whether a URL's host names the machine itself, as
// web-app decides it for DEV_SIGNIN: localhost, or a loopback IP address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// devSignInProblems lists every service of p that enables DEV_SIGNIN (a
// user name alone signs in) where more than the machine's own user could
// use it: its PUBLIC_URL is not a loopback address (web-app refuses that
// too), OIDC_ISSUER is set (likewise), or the service, or a service in its
// network namespace, publishes a port on anything but 127.0.0.1.
func devSignInProblems(p *types.Project) []string {
	var problems []string
	for name, s := range p.Services {
		v, ok := envValue(s, "DEV_SIGNIN")
		if !ok {
			continue
		}
		on, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: DEV_SIGNIN=%q is not a boolean", name, v))
			continue
		}
		if !on {
			continue
		}
		raw, _ := envValue(s, "PUBLIC_URL")
		if u, err := url.Parse(raw); err != nil || u.Host == "" || !isLoopbackHost(u.Hostname()) {
			problems = append(problems, fmt.Sprintf("%s: DEV_SIGNIN=true with PUBLIC_URL=%q: only with a loopback PUBLIC_URL", name, raw))
		}
		if iss, ok := envValue(s, "OIDC_ISSUER"); ok && iss != "" {
			problems = append(problems, fmt.Sprintf("%s: DEV_SIGNIN=true with OIDC_ISSUER=%q: anyone could sign in as the provider's users", name, iss))
		}
		for other, o := range p.Services {
			if other != name && o.NetworkMode != "service:"+name {
				continue
			}
			for _, port := range o.Ports {
				if port.HostIP != "127.0.0.1" {
					problems = append(problems, fmt.Sprintf("%s: DEV_SIGNIN=true while %s publishes %s on %q: only on 127.0.0.1", name, other, port.Published, port.HostIP))
				}
			}
		}
	}
	return problems
}

func TestComposeDevSignInOnlyOnLoopback(t *testing.T) {
	p := loadCompose(t, nil)
	if problems := devSignInProblems(p); len(problems) > 0 {
		t.Fatalf("the dev sign-in is reachable beyond this machine:\n  %s", strings.Join(problems, "\n  "))
	}
	for name, s := range p.Services {
		if v, _ := envValue(s, "DEV_SIGNIN"); v == "true" {
			t.Logf("%s: DEV_SIGNIN=true, published on 127.0.0.1 only, loopback PUBLIC_URL", name)
		}
	}
}

// The check notices each way the dev sign-in could leave the machine.
func TestComposeDevSignInViolationsAreDetected(t *testing.T) {
	const web = "web-app"
	setEnv := func(p *types.Project, key, value string) {
		s := p.Services[web]
		s.Environment[key] = &value
		p.Services[web] = s
	}
	setHostIP := func(p *types.Project, ip string) {
		s := p.Services[web]
		if len(s.Ports) == 0 {
			s.Ports = []types.ServicePortConfig{{Target: 8085, Published: "8085", Protocol: "tcp"}}
		}
		ports := make([]types.ServicePortConfig, len(s.Ports))
		copy(ports, s.Ports)
		for i := range ports {
			ports[i].HostIP = ip
		}
		s.Ports = ports
		p.Services[web] = s
	}
	mutations := map[string]func(p *types.Project){
		"published on every interface": func(p *types.Project) { setEnv(p, "DEV_SIGNIN", "true"); setHostIP(p, "") },
		"published on 0.0.0.0":         func(p *types.Project) { setEnv(p, "DEV_SIGNIN", "true"); setHostIP(p, "0.0.0.0") },
		"published on a LAN address":   func(p *types.Project) { setEnv(p, "DEV_SIGNIN", "true"); setHostIP(p, "192.168.1.20") },
		"public URL not loopback": func(p *types.Project) {
			setEnv(p, "DEV_SIGNIN", "true")
			setEnv(p, "PUBLIC_URL", "http://todo.example.com:8085")
		},
		"public URL a name starting with 127": func(p *types.Project) {
			setEnv(p, "DEV_SIGNIN", "true")
			setEnv(p, "PUBLIC_URL", "http://127.todo.example.com:8085")
		},
		"with an identity provider": func(p *types.Project) {
			setEnv(p, "DEV_SIGNIN", "1")
			setEnv(p, "OIDC_ISSUER", "https://idp.example.com/")
		},
		"a sidecar publishing for it": func(p *types.Project) {
			setEnv(p, "DEV_SIGNIN", "true")
			for name, s := range p.Services {
				if s.NetworkMode == "service:"+web {
					s.Ports = []types.ServicePortConfig{{Target: 3500, Published: "3500", Protocol: "tcp"}}
					p.Services[name] = s
				}
			}
		},
	}
	for what, mutate := range mutations {
		t.Run(what, func(t *testing.T) {
			p := loadCompose(t, nil) // a fresh project: the mutations change maps in place
			if _, ok := p.Services[web]; !ok {
				t.Fatalf("no %s service", web)
			}
			mutate(p)
			problems := devSignInProblems(p)
			if len(problems) == 0 {
				t.Fatalf("%q went unnoticed", what)
			}
			t.Logf("reported: %s", strings.Join(problems, "; "))
		})
	}
}

// TestComposeWebAppKeys: web-app's keys are well formed (web-app would
// refuse to start otherwise), it no longer has todo-api's HS256 settings,
// and todo-api accepts its tokens (WEB_TOKEN_ISSUER is web-app's issuer).
func TestComposeWebAppKeys(t *testing.T) {
	var example []string
	for k, v := range envExample(t) {
		example = append(example, k+"="+v)
	}
	for what, env := range map[string][]string{"defaults": nil, ".env.example": example} {
		p := loadCompose(t, env)
		var issuers, webIssuers []string
		for _, a := range devstackApps(t) {
			s := p.Services[a.ID]
			if _, ok := a.ExtraEnv["WEB_TOKEN_ISSUER"]; ok {
				v, _ := envValue(s, "WEB_TOKEN_ISSUER")
				issuers = append(issuers, v)
			}
			if _, ok := a.ExtraEnv["API_TOKEN_KEYS"]; !ok {
				continue
			}
			iss, ok := envValue(s, "API_TOKEN_ISSUER")
			if !ok {
				iss = "todo-web-app" // web-app's default
			}
			webIssuers = append(webIssuers, iss)
			keys, _ := envValue(s, "API_TOKEN_KEYS")
			for i, k := range strings.Split(keys, ",") {
				b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
				if err != nil || len(b) != 32 {
					t.Errorf("%s: %s: API_TOKEN_KEYS key %d is not the base64 of 32 bytes (an Ed25519 seed: openssl rand -base64 32)", what, a.ID, i+1)
				}
			}
			cookies, _ := envValue(s, "COOKIE_KEYS")
			for i, k := range strings.Split(cookies, ",") {
				if len(strings.TrimSpace(k)) < 32 {
					t.Errorf("%s: %s: COOKIE_KEYS key %d is shorter than 32 bytes", what, a.ID, i+1)
				}
			}
			for _, gone := range []string{"JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE"} {
				if _, ok := envValue(s, gone); ok {
					t.Errorf("%s: %s: %s set; web-app signs with API_TOKEN_KEYS and no longer reads it", what, a.ID, gone)
				}
			}
		}
		if len(webIssuers) != 1 || len(issuers) != 1 || issuers[0] != webIssuers[0] {
			t.Errorf("%s: todo-api's WEB_TOKEN_ISSUER %v, web-app's API_TOKEN_ISSUER %v: want one each, equal", what, issuers, webIssuers)
		}
	}
}
