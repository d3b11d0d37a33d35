// Package clienttest checks what a client of the todo API sends and gets
// against the API's OpenAPI description, for tests: an http.RoundTripper
// that validates every request and answer passing through it and records
// which documented operation answered with which status.
//
//	v, err := clienttest.NewValidator(api.OpenAPIYAML)
//	c := client.New(url, token, client.WithTransport(v.Transport(nil)))
//	// ... every call of c is checked; v.Missing() lists the documented
//	// answers no call got.
//
// It is not meant for production traffic: it reads every body whole.
package clienttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Outcome is a documented operation answered with one status.
type Outcome struct {
	Method string // GET, POST, ...
	Path   string // the path template of the description, such as /api/tasks/{id}
	Status int
}

// String is "METHOD path status".
func (o Outcome) String() string { return o.Method + " " + o.Path + " " + strconv.Itoa(o.Status) }

// Error is an exchange that does not match the description. The transport
// returns it instead of the answer, so the client's call fails with it
// (wrapped); errors.As finds it.
type Error struct {
	Method, URL string
	Status      int // of the answer; 0 when the request matched no operation
	Reason      string
	Err         error
}

// Error says what did not match.
func (e *Error) Error() string {
	s := fmt.Sprintf("openapi: %s %s", e.Method, e.URL)
	if e.Status != 0 {
		s += " answered " + strconv.Itoa(e.Status)
	}
	s += ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the validation error, when there is one.
func (e *Error) Unwrap() error { return e.Err }

// Validator validates exchanges against one OpenAPI 3 document. It is safe
// for concurrent use.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options

	mu   sync.Mutex
	seen map[Outcome]int
	errs []error
}

// NewValidator loads the OpenAPI 3 document spec (YAML or JSON). It checks
// more strictly than the document alone says in two ways: every object
// schema that lists its properties and says nothing of others is closed (an
// answer may not carry a member the description does not name), and
// format: uuid is checked.
func NewValidator(spec []byte) (*Validator, error) {
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("clienttest: load the description: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("clienttest: the description is not valid: %w", err)
	}
	// Match by path alone, whatever host the API under test listens on.
	doc.Servers = nil
	closeObjects(doc)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("clienttest: %w", err)
	}
	return &Validator{
		doc: doc, router: router, seen: map[Outcome]int{},
		opts: &openapi3filter.Options{
			IncludeResponseStatus: true,
			SkipSettingDefaults:   true,
			MultiError:            false,
			AuthenticationFunc:    bearerPresent,
			SchemaValidationOptions: []openapi3.SchemaValidationOption{
				openapi3.WithStringFormatValidator("uuid",
					openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562)),
			},
		},
	}, nil
}

// bearerPresent accepts a request that carries a bearer token; whether the
// token is good is the API's to say.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecurityScheme == nil || in.SecurityScheme.Type != "http" || !strings.EqualFold(in.SecurityScheme.Scheme, "bearer") {
		return fmt.Errorf("security scheme %q is not checked here", in.SecuritySchemeName)
	}
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return errors.New("no Authorization: Bearer <token> header")
	}
	return nil
}

// closeObjects sets additionalProperties: false on every object schema of
// doc that has properties and leaves additionalProperties unsaid.
func closeObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			no := false
			s.AdditionalProperties.Has = &no
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, r := range list {
				walk(r)
			}
		}
	}
	content := func(c openapi3.Content) {
		for _, mt := range c {
			walk(mt.Schema)
		}
	}
	for _, s := range doc.Components.Schemas {
		walk(s)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				content(op.RequestBody.Value.Content)
			}
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					content(r.Value.Content)
				}
			}
		}
	}
}

// Transport returns an http.RoundTripper that sends every request through
// next (http.DefaultTransport when nil) and checks the exchange:
//
//   - the request must be one of a documented operation;
//   - the answer's status must be documented for the operation, and its
//     headers and body must match the documented ones;
//   - a request the description refuses (a malformed id, a missing token)
//     must be refused with a 4xx.
//
// An exchange that fails is returned as an *Error instead of the answer,
// and kept for Errors.
func (v *Validator) Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) { return v.roundTrip(next, req) })
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (v *Validator) roundTrip(next http.RoundTripper, req *http.Request) (*http.Response, error) {
	fail := func(status int, reason string, err error) error {
		e := &Error{Method: req.Method, URL: req.URL.String(), Status: status, Reason: reason, Err: err}
		v.mu.Lock()
		v.errs = append(v.errs, e)
		v.mu.Unlock()
		return e
	}
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
	}
	withBody := func() *http.Request {
		r := req.Clone(req.Context())
		if reqBody != nil {
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
		}
		return r
	}
	checked := withBody()
	route, params, err := v.router.FindRoute(checked)
	if err != nil {
		return nil, fail(0, "no documented operation", err)
	}
	in := &openapi3filter.RequestValidationInput{Request: checked, PathParams: params, Route: route, Options: v.opts}
	reqErr := openapi3filter.ValidateRequest(req.Context(), in)

	resp, err := next.RoundTrip(withBody())
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if req.Method == http.MethodHead {
		return resp, nil
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: v.opts,
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		return nil, fail(resp.StatusCode, fmt.Sprintf("the answer does not match the description (body %.500s)", body), err)
	}
	if reqErr != nil && (resp.StatusCode < 400 || resp.StatusCode > 499) {
		return nil, fail(resp.StatusCode, "the API did not refuse a request the description refuses", reqErr)
	}
	v.mu.Lock()
	v.seen[Outcome{Method: route.Method, Path: route.Path, Status: resp.StatusCode}]++
	v.mu.Unlock()
	return resp, nil
}

// Seen returns how many validated answers each outcome got.
func (v *Validator) Seen() map[Outcome]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[Outcome]int, len(v.seen))
	for k, n := range v.seen {
		out[k] = n
	}
	return out
}

// Errors returns every exchange that failed so far.
func (v *Validator) Errors() []error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.errs)
}

// Documented lists every operation × status of the description, sorted.
func (v *Validator) Documented() []Outcome {
	var out []Outcome
	for path, item := range v.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				status, err := strconv.Atoi(code)
				if err != nil {
					continue // "default" or a range such as 4XX: not one status
				}
				out = append(out, Outcome{Method: method, Path: path, Status: status})
			}
		}
	}
	slices.SortFunc(out, func(a, b Outcome) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Missing lists the documented outcomes that no validated answer had yet.
func (v *Validator) Missing() []Outcome {
	seen := v.Seen()
	var out []Outcome
	for _, o := range v.Documented() {
		if seen[o] == 0 {
			out = append(out, o)
		}
	}
	return out
}
