package devstack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDaprd writes an executable at path that prints version for --version.
func fakeDaprd(t *testing.T, path, version string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho "+version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// FindDaprd takes an installed daprd of the pinned version before building
// one: $DAPRD alone when set, else the Dapr CLI's ~/.dapr/bin, PATH, then
// the repository's own build; each checked with --version.
func TestFindDaprd(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, home, pathDir, root string) (daprdEnv string)
		want   func(home, pathDir, root string) string
		wantOK bool
	}{
		{"nothing installed: the repository's build path, to be built", func(*testing.T, string, string, string) string { return "" },
			func(_, _, root string) string { return repoDaprd(root) }, false},
		{"the Dapr CLI's", func(t *testing.T, home, _, _ string) string {
			fakeDaprd(t, filepath.Join(home, ".dapr", "bin", "daprd"), DaprVersion)
			return ""
		}, func(home, _, _ string) string { return filepath.Join(home, ".dapr", "bin", "daprd") }, true},
		{"the Dapr CLI's of another version, then PATH", func(t *testing.T, home, pathDir, _ string) string {
			fakeDaprd(t, filepath.Join(home, ".dapr", "bin", "daprd"), "1.14.0")
			fakeDaprd(t, filepath.Join(pathDir, "daprd"), DaprVersion)
			return ""
		}, func(_, pathDir, _ string) string { return filepath.Join(pathDir, "daprd") }, true},
		{"the repository's build", func(t *testing.T, _, pathDir, root string) string {
			fakeDaprd(t, filepath.Join(pathDir, "daprd"), "1.17.0")
			fakeDaprd(t, repoDaprd(root), DaprVersion)
			return ""
		}, func(_, _, root string) string { return repoDaprd(root) }, true},
		{"DAPRD of the pinned version", func(t *testing.T, home, _, root string) string {
			fakeDaprd(t, filepath.Join(home, ".dapr", "bin", "daprd"), DaprVersion)
			return fakeDaprd(t, filepath.Join(root, "mine", "daprd"), DaprVersion)
		}, func(_, _, root string) string { return filepath.Join(root, "mine", "daprd") }, true},
		{"DAPRD of another version is not replaced by another", func(t *testing.T, home, _, root string) string {
			fakeDaprd(t, filepath.Join(home, ".dapr", "bin", "daprd"), DaprVersion)
			return fakeDaprd(t, filepath.Join(root, "mine", "daprd"), "1.16.1")
		}, func(_, _, root string) string { return filepath.Join(root, "mine", "daprd") }, false},
		{"DAPRD missing", func(_ *testing.T, _, _, root string) string { return filepath.Join(root, "nope") },
			func(_, _, root string) string { return filepath.Join(root, "nope") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, pathDir, root := t.TempDir(), t.TempDir(), t.TempDir()
			t.Setenv("HOME", home)
			t.Setenv("PATH", pathDir)
			t.Setenv("DAPRD", tt.setup(t, home, pathDir, root))
			got, ok := FindDaprd(root)
			if want := tt.want(home, pathDir, root); got != want || ok != tt.wantOK {
				t.Errorf("FindDaprd = %s, %v; want %s, %v", got, ok, want, tt.wantOK)
			}
		})
	}
}

// scripts/build-daprd.sh (what `make daprd` and `make test` run) finds the
// same installed daprd instead of building one, and refuses a DAPRD of
// another version.
func TestBuildScriptUsesAnInstalledDaprd(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	installed := fakeDaprd(t, filepath.Join(home, ".dapr", "bin", "daprd"), DaprVersion)
	run := func(env ...string) (string, error) {
		cmd := exec.Command("bash", filepath.Join(root, "scripts", "build-daprd.sh"))
		cmd.Env = append(os.Environ(), append([]string{"HOME=" + home, "DAPRD=", "DAPRD_CACHE_DIR=" + t.TempDir()}, env...)...)
		out, err := cmd.Output()
		return strings.TrimSpace(string(out)), err
	}
	if got, err := run(); err != nil || got != installed {
		t.Errorf("build-daprd.sh = %q, %v; want %s without a build", got, err, installed)
	}
	other := fakeDaprd(t, filepath.Join(t.TempDir(), "daprd"), "1.16.1")
	if got, err := run("DAPRD=" + other); err == nil {
		t.Errorf("build-daprd.sh with DAPRD of another version = %q, want an error", got)
	}
}
