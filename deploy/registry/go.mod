// The reader of the app registry internal/devstack/apps.json, for the
// launcher (the root module) and the offline checks (deploy/composecheck,
// deploy/chartcheck). No dependencies: each uses it through a replace
// directive.
module github.com/evolution-todo/todo/deploy/registry

go 1.26.0
