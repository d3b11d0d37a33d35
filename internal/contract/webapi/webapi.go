// Package webapi is the contract of web-app's invocation route: the JWK Set
// of the keys that sign its API tokens, which todo-api reads through its
// sidecar to verify the tokens of the pages' calls.
package webapi

// AppID is web-app's default Dapr app id.
const AppID = "web-app"

// PathJWKS is the method path of the JWK Set, and RouteJWKS the route
// web-app serves it on (its app port).
const (
	PathJWKS  = ".well-known/jwks.json"
	RouteJWKS = "GET /" + PathJWKS
)

// Defaults of the API tokens' claims: web-app's API_TOKEN_ISSUER and
// API_TOKEN_AUDIENCE, todo-api's WEB_TOKEN_ISSUER and WEB_TOKEN_AUDIENCE.
const (
	DefaultIssuer   = "todo-web-app"
	DefaultAudience = "todo-api"
)
