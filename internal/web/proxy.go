package web

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"

	"github.com/evolution-todo/todo/internal/httpx"
)

// newAPIProxy forwards /api/... to todo-api: the page uses the public API
// like every other client, with a short-lived bearer token of the session's
// user that web-app signs with its own key. Nothing of the browser's own
// credentials (cookies, an Authorization header) goes on, nor its trace
// headers: the call continues web-app's trace (the transport sets them).
func newAPIProxy(target *url.URL, transport http.RoundTripper, a *App) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
			for _, h := range []string{"Cookie", "Authorization", "Traceparent", "Tracestate", "Baggage"} {
				pr.Out.Header.Del(h)
			}
			if tok, ok := pr.In.Context().Value(tokenKey{}).(string); ok {
				pr.Out.Header.Set("Authorization", "Bearer "+tok)
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Del("Set-Cookie")
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			a.unavailable(w, r, err)
		},
	}
}

type tokenKey struct{}

// apiPath says whether p, the escaped path of a request, may go to
// todo-api as it is: under /api/, clean, and without escapes, so that no
// server on the way can decode or clean it into another route.
func apiPath(p string) bool {
	return strings.HasPrefix(p, "/api/") && !strings.Contains(p, "%") && !strings.Contains(p, "\\") &&
		path.Clean(p) == p
}

// serveAPI is /api/...: authenticated by the session, then proxied.
func (a *App) serveAPI(w http.ResponseWriter, r *http.Request) {
	if !apiPath(r.URL.EscapedPath()) {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_path", "the path must be a clean /api/... path without escapes")
		return
	}
	sess, _, ok := a.requireSession(w, r)
	if !ok {
		return
	}
	tok, err := a.set.signer.Mint(sess.User, a.cfg.TokenTTL, a.now())
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	a.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
}
