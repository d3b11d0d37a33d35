// Package buildinfo holds the version baked into the binaries at build time:
//
//	go build -ldflags "-X github.com/evolution-todo/todo/internal/buildinfo.Version=1.2.3" ./cmd/...
package buildinfo

// Version is the release of the binary; "dev" when not set at build time.
var Version = "dev"
