// Package composecheck holds offline checks of the container and Dapr CLI
// deployment files: the Dockerfile, deploy/compose (docker-compose.yaml and
// its components) and dapr.yaml. It is its own module so that the root
// module does not depend on compose-go or BuildKit; it reads what it needs of
// the root module (internal/devstack/apps.json through deploy/registry,
// scripts/build-daprd.sh, components/) as files. Run it with
// `make compose-check`. It checks the topic scopes of every pub/sub
// component file (components/, components/brokers/, the compose copy)
// against apps.json.
//
// It also generates the per-app parts of those files from the app registry
// (internal/devstack/apps.json) and deploy/compose/components from
// components/ (generate_test.go): `make compose-check` fails when they are
// out of date, and `go test -run TestGenerated -update` here rewrites them.
package composecheck
