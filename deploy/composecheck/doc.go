// Package composecheck holds offline checks of the container and Dapr CLI
// deployment files: the Dockerfile, deploy/compose (docker-compose.yaml and
// its components) and dapr.yaml. It is its own module so that the root
// module does not depend on compose-go or BuildKit; it reads what it needs of
// the root module (internal/devstack, scripts/build-daprd.sh, components/)
// as files. Run it with `make compose-check`.
package composecheck
