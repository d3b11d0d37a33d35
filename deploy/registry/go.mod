// The app registry of internal/devstack/system.go as the offline checks read
// it (deploy/composecheck, deploy/chartcheck). No dependencies: the check
// modules use it through a replace directive.
module github.com/evolution-todo/todo/deploy/registry

go 1.26.0
