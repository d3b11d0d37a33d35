package composecheck

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"go/ast"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

const (
	// distrolessStatic is the base of every service image.
	distrolessStatic = "gcr.io/distroless/static-debian12:nonroot"
	// metricsPort is every service's METRICS_ADDR default.
	metricsPort = "9464"
	// distrolessStaticMiB is the approximate size of distrolessStatic
	// (uncompressed), added to a binary's size to estimate an image's.
	distrolessStaticMiB = 2.0
	// testVersion is baked into the binaries the check builds: distinctive
	// enough that finding it in a binary proves the -X flag took effect.
	testVersion = "test-composecheck"
)

type dockerfile struct {
	stages   []instructions.Stage
	metaArgs map[string]string // ARGs before the first FROM, with their defaults
}

func parseDockerfile(t testing.TB) dockerfile {
	t.Helper()
	res, err := parser.Parse(bytes.NewReader(readFile(t, filepath.Join(root(t), "Dockerfile"))))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	d := dockerfile{stages: stages, metaArgs: map[string]string{}}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			d.metaArgs[kv.Key] = kv.ValueString()
		}
	}
	return d
}

func dockerfileStageNames(t testing.TB) []string {
	t.Helper()
	var names []string
	for _, s := range parseDockerfile(t).stages {
		names = append(names, s.Name)
	}
	return names
}

func (d dockerfile) stage(name string) (instructions.Stage, bool) {
	for _, s := range d.stages {
		if s.Name == name {
			return s, true
		}
	}
	return instructions.Stage{}, false
}

// baseImage expands a FROM with the default values of the meta ARGs.
func (d dockerfile) baseImage(s instructions.Stage) string {
	return os.Expand(s.BaseName, func(k string) string { return d.metaArgs[k] })
}

// chain returns a stage and the stages it is built FROM, base first, and the
// image at the root of the chain.
func (d dockerfile) chain(name string) ([]instructions.Stage, string) {
	s, ok := d.stage(name)
	if !ok {
		return nil, ""
	}
	if _, isStage := d.stage(s.BaseName); isStage {
		parents, img := d.chain(s.BaseName)
		return append(parents, s), img
	}
	return []instructions.Stage{s}, d.baseImage(s)
}

// goBuild is the parsed `go build` of the Dockerfile.
type goBuild struct {
	stage    string
	cmdIndex int               // position of the RUN in its stage
	assigns  map[string]string // VAR=value before `go`
	flags    map[string]string // -flag value ("" for booleans)
	packages []string
	args     []string // everything after `go`, expanded
}

var valueFlags = map[string]bool{"-o": true, "-ldflags": true, "-tags": true, "-gcflags": true, "-asmflags": true, "-mod": true, "-p": true, "-pgo": true}

// findGoBuild finds the single RUN with a `go build` and parses it with a
// shell parser, expanding variables from env (the build ARGs).
func findGoBuild(t testing.TB, d dockerfile, env map[string]string) goBuild {
	t.Helper()
	var found []goBuild
	var pairs []string
	for k, v := range env {
		pairs = append(pairs, k+"="+v)
	}
	cfg := &expand.Config{Env: expand.ListEnviron(pairs...)}
	for _, s := range d.stages {
		for i, c := range s.Commands {
			run, ok := c.(*instructions.RunCommand)
			if !ok {
				continue
			}
			file, err := syntax.NewParser().Parse(strings.NewReader(strings.Join(run.CmdLine, " ")), "RUN")
			if err != nil {
				t.Fatalf("stage %s: RUN %q: %v", s.Name, run.CmdLine, err)
			}
			syntax.Walk(file, func(n syntax.Node) bool {
				call, ok := n.(*syntax.CallExpr)
				if !ok || len(call.Args) < 2 || call.Args[0].Lit() != "go" || call.Args[1].Lit() != "build" {
					return true
				}
				args, err := expand.Fields(cfg, call.Args[1:]...)
				if err != nil {
					t.Fatalf("stage %s: go build: %v", s.Name, err)
				}
				gb := goBuild{stage: s.Name, cmdIndex: i, assigns: map[string]string{}, flags: map[string]string{}, args: args}
				for _, a := range call.Assigns {
					v := ""
					if a.Value != nil {
						if v, err = expand.Literal(cfg, a.Value); err != nil {
							t.Fatal(err)
						}
					}
					gb.assigns[a.Name.Value] = v
				}
				for j := 1; j < len(args); j++ {
					a := args[j]
					if !strings.HasPrefix(a, "-") {
						gb.packages = append(gb.packages, a)
						continue
					}
					name, val, hasVal := strings.Cut(a, "=")
					name = "-" + strings.TrimLeft(name, "-")
					if !hasVal && valueFlags[name] && j+1 < len(args) {
						val = args[j+1]
						j++
					}
					gb.flags[name] = val
				}
				found = append(found, gb)
				return true
			})
		}
	}
	if len(found) != 1 {
		t.Fatalf("Dockerfile: %d `go build` commands, want exactly 1", len(found))
	}
	return found[0]
}

// buildinfoVar checks that internal/buildinfo declares the string variable
// the -X flag sets (a -X of a missing symbol is silently ignored).
func buildinfoVar(t testing.TB) string {
	t.Helper()
	f := parseGo(t, filepath.Join(root(t), "internal", "buildinfo", "buildinfo.go"))
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for _, name := range vs.Names {
				found = found || name.Name == "Version"
			}
		}
		return true
	})
	if !found {
		t.Fatal("internal/buildinfo has no Version variable")
	}
	m := regexp.MustCompile(`(?m)^module (\S+)`).FindSubmatch(readFile(t, filepath.Join(root(t), "go.mod")))
	if m == nil {
		t.Fatal("no module line in go.mod")
	}
	return string(m[1]) + "/internal/buildinfo.Version"
}

func servicePackages(apps []app) []string {
	var pkgs []string
	for _, a := range apps {
		pkgs = append(pkgs, "./cmd/"+a.Binary)
	}
	slices.Sort(pkgs)
	return pkgs
}

// checkGoBuild checks the flags and packages of the Dockerfile's go build.
func checkGoBuild(t testing.TB, gb goBuild, apps []app, version string) {
	t.Helper()
	if gb.assigns["CGO_ENABLED"] != "0" {
		t.Errorf("go build: CGO_ENABLED=%q, want 0 (static binaries for distroless/static)", gb.assigns["CGO_ENABLED"])
	}
	if _, ok := gb.flags["-trimpath"]; !ok {
		t.Error("go build: -trimpath missing")
	}
	ld := strings.Fields(gb.flags["-ldflags"])
	for _, f := range []string{"-s", "-w"} {
		if !slices.Contains(ld, f) {
			t.Errorf("go build: -ldflags %q lacks %s", gb.flags["-ldflags"], f)
		}
	}
	x := buildinfoVar(t) + "=" + version
	if i := slices.Index(ld, "-X"); i < 0 || i+1 >= len(ld) || ld[i+1] != x {
		t.Errorf("go build: -ldflags %q lacks -X %s", gb.flags["-ldflags"], x)
	}
	if !strings.HasSuffix(gb.flags["-o"], "/") {
		t.Errorf("go build: -o %q, want a folder (ending in /) receiving one binary per package", gb.flags["-o"])
	}
	got := slices.Clone(gb.packages)
	slices.Sort(got)
	if want := servicePackages(apps); !slices.Equal(got, want) {
		t.Errorf("go build packages %v, want the services the launcher and tests run: %v", got, want)
	}
	for _, p := range gb.packages {
		if strings.Contains(p, "devbroker") || strings.Contains(p, "devstack") || strings.Contains(p, "...") {
			t.Errorf("go build: %s must not be in a service image", p)
		}
	}
}

// indexOf returns the position of the first command of s for which match
// is true, or -1.
func indexOf(s instructions.Stage, match func(instructions.Command) bool) int {
	for i, c := range s.Commands {
		if match(c) {
			return i
		}
	}
	return -1
}

func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t)
	apps := devstackApps(t)
	gb := findGoBuild(t, d, map[string]string{"VERSION": "${VERSION}", "TARGETOS": "linux", "TARGETARCH": "amd64"})
	checkGoBuild(t, gb, apps, "${VERSION}")

	// The build stage: the pinned Go of go.mod, dependencies in their own
	// layer, VERSION defaulting to dev.
	build, _ := d.stage(gb.stage)
	if img, want := d.baseImage(build), "golang:"+goMinor(t); img != want {
		t.Errorf("build stage FROM %q, want %q (go.mod's Go)", img, want)
	}
	copyMod := indexOf(build, func(c instructions.Command) bool {
		cp, ok := c.(*instructions.CopyCommand)
		return ok && slices.Equal(cp.SourcePaths, []string{"go.mod", "go.sum"})
	})
	download := indexOf(build, func(c instructions.Command) bool {
		run, ok := c.(*instructions.RunCommand)
		return ok && strings.Contains(strings.Join(run.CmdLine, " "), "go mod download")
	})
	copyAll := indexOf(build, func(c instructions.Command) bool {
		cp, ok := c.(*instructions.CopyCommand)
		return ok && slices.Contains(cp.SourcePaths, ".")
	})
	if copyMod < 0 || download < 0 || copyAll < 0 || copyMod >= download || download >= copyAll || copyAll >= gb.cmdIndex {
		t.Errorf("build stage order: COPY go.mod go.sum (%d) < RUN go mod download (%d) < COPY . (%d) < RUN go build (%d) wanted, so that dependencies are a cached layer",
			copyMod, download, copyAll, gb.cmdIndex)
	}
	versionArg := indexOf(build, func(c instructions.Command) bool {
		a, ok := c.(*instructions.ArgCommand)
		return ok && len(a.Args) == 1 && a.Args[0].Key == "VERSION" && a.Args[0].ValueString() == "dev"
	})
	if versionArg < 0 || versionArg > gb.cmdIndex {
		t.Error("build stage: ARG VERSION=dev missing before the go build")
	}

	// One final stage per service.
	outDir := gb.flags["-o"]
	for _, a := range apps {
		chain, img := d.chain(a.Binary)
		if chain == nil {
			t.Errorf("no stage %q (docker build --target %s)", a.Binary, a.Binary)
			continue
		}
		if img != distrolessStatic {
			t.Errorf("stage %s: based on %q, want %s", a.Binary, img, distrolessStatic)
		}
		var (
			user, label string
			entrypoint  []string
			shellEntry  bool
			exposed     []string
			copied      bool
			versionARG  bool
		)
		for _, s := range chain {
			for _, c := range s.Commands {
				switch c := c.(type) {
				case *instructions.UserCommand:
					user = c.User
				case *instructions.EntrypointCommand:
					entrypoint, shellEntry = c.CmdLine, c.PrependShell
				case *instructions.ExposeCommand:
					for _, p := range c.Ports {
						exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
					}
				case *instructions.CopyCommand:
					if c.From == gb.stage && slices.Equal(c.SourcePaths, []string{outDir + a.Binary}) && c.DestPath == "/app/"+a.Binary {
						copied = true
					}
				case *instructions.ArgCommand:
					for _, kv := range c.Args {
						versionARG = versionARG || kv.Key == "VERSION"
					}
				case *instructions.LabelCommand:
					for _, kv := range c.Labels {
						if kv.Key == "org.opencontainers.image.version" {
							label = strings.Trim(kv.Value, `"`) // the parser keeps the quotes
							if !versionARG {
								t.Errorf("stage %s: the version label comes before ARG VERSION", a.Binary)
							}
						}
					}
				}
			}
		}
		if user != "65532" && user != "65532:65532" && user != "nonroot" {
			t.Errorf("stage %s: USER %q, want 65532 (distroless nonroot)", a.Binary, user)
		}
		if shellEntry || !slices.Equal(entrypoint, []string{"/app/" + a.Binary}) {
			t.Errorf("stage %s: ENTRYPOINT %q (shell form %v), want [\"/app/%s\"] (exec form: the image has no shell)", a.Binary, entrypoint, shellEntry, a.Binary)
		}
		if !copied {
			t.Errorf("stage %s: no COPY --from=%s %s%s /app/%s", a.Binary, gb.stage, outDir, a.Binary, a.Binary)
		}
		// EXPOSE the public port (if any) and the metrics; never the app
		// port, which only the app's sidecar calls (`docker run -P` would
		// publish it).
		slices.Sort(exposed)
		want := []string{metricsPort}
		if a.Public() {
			want = append(want, strconv.Itoa(a.PublicPort))
		}
		slices.Sort(want)
		if !slices.Equal(slices.Compact(exposed), want) {
			t.Errorf("stage %s: EXPOSE %v, want %v (its public port, if it has one, and metrics; not the app port %d)", a.Binary, exposed, want, a.AppPort)
		}
		if label != "${VERSION}" && label != "$VERSION" {
			t.Errorf("stage %s: LABEL org.opencontainers.image.version=%q, want ${VERSION}", a.Binary, label)
		}
	}
	if last := d.stages[len(d.stages)-1].Name; last != "todo-api" {
		t.Errorf("the last stage (what a plain `docker build .` builds) is %q; docs/deploy.md says todo-api", last)
	}
}

// buildContext copies the files Docker would send as the build context (the
// repository minus .dockerignore) into dst.
func buildContext(t testing.TB, src, dst string) {
	t.Helper()
	f, err := os.Open(filepath.Join(src, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel == "." {
			return nil
		}
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		if excluded {
			if e.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		switch {
		case e.IsDir():
			return os.MkdirAll(target, 0o755)
		case e.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case e.Type().IsRegular():
			in, err := os.Open(path)
			if err != nil {
				return err
			}
			defer in.Close()
			info, err := in.Stat()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, in); err != nil {
				out.Close()
				return err
			}
			return out.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDockerfileGoBuild runs the Dockerfile's own `go build` (parsed from
// it, VERSION=test-composecheck, output to a temporary folder) in a copy of
// the Docker build context, as the image build would, and checks the
// binaries: exactly the five services, static, stripped, carrying the
// version (in their bytes, and as todo-api reports it at start). It logs
// their sizes and the estimated image sizes.
func TestDockerfileGoBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the five services")
	}
	d := parseDockerfile(t)
	apps := devstackApps(t)
	gb := findGoBuild(t, d, map[string]string{"VERSION": testVersion, "TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH})
	checkGoBuild(t, gb, apps, testVersion)

	tmp := t.TempDir()
	src, out := filepath.Join(tmp, "src"), filepath.Join(tmp, "out")
	buildContext(t, root(t), src)
	for _, f := range []string{"go.mod", "go.sum"} {
		if _, err := os.Stat(filepath.Join(src, f)); err != nil {
			t.Fatalf(".dockerignore leaves %s out of the build context", f)
		}
	}
	// A module that go.mod replaces with a folder of the repository: go
	// needs its go.mod for `go mod download`, which the Dockerfile runs with
	// go.mod and go.sum alone, so it must be in the context and copied
	// before that step.
	dockerfile := string(readFile(t, filepath.Join(root(t), "Dockerfile")))
	for _, m := range regexp.MustCompile(`(?m)^replace \S+ => (\./\S+)$`).FindAllStringSubmatch(string(readFile(t, filepath.Join(root(t), "go.mod"))), -1) {
		dir := strings.TrimPrefix(m[1], "./")
		if _, err := os.Stat(filepath.Join(src, dir, "go.mod")); err != nil {
			t.Errorf(".dockerignore leaves %s/go.mod out of the build context; go.mod replaces a module with %s", dir, m[1])
		}
		if !regexp.MustCompile(`(?m)^COPY ` + regexp.QuoteMeta(dir) + `/go\.mod \S+\n(COPY .*\n)*RUN go mod download`).MatchString(dockerfile) {
			t.Errorf("Dockerfile: no COPY %s/go.mod before `RUN go mod download`", dir)
		}
	}

	args := slices.Clone(gb.args)
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			args[i+1] = out + string(filepath.Separator)
		} else if strings.HasPrefix(a, "-o=") {
			args[i] = "-o=" + out + string(filepath.Separator)
		}
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = src
	// The golang image's environment: no GOFLAGS, no workspace; then the
	// command's own assignments (CGO_ENABLED=0 GOOS=... GOARCH=...).
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		_, assigned := gb.assigns[k]
		return assigned || k == "GOFLAGS" || k == "GOWORK"
	})
	env = append(env, "GOWORK=off")
	for k, v := range gb.assigns {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	t.Logf("running in a copy of the build context: %s go %s", strings.Join(assignList(gb.assigns), " "), strings.Join(args, " "))
	if outb, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's go build fails: %v\n%s", err, outb)
	}

	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var built []string
	for _, e := range entries {
		built = append(built, e.Name())
	}
	var want []string
	for _, a := range apps {
		want = append(want, a.Binary)
	}
	slices.Sort(built)
	slices.Sort(want)
	if !slices.Equal(built, want) {
		t.Errorf("built %v, want %v", built, want)
	}

	var report strings.Builder
	fmt.Fprintf(&report, "%-10s %-16s %12s %14s\n", "binary", "image", "binary MiB", "est. image MiB")
	for _, a := range apps {
		path := filepath.Join(out, a.Binary)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", a.Binary, err)
			continue
		}
		if !bytes.Contains(data, []byte(testVersion)) {
			t.Errorf("%s: the version %q is not in the binary: -X did not take effect", a.Binary, testVersion)
		}
		if runtime.GOOS == "linux" {
			checkStaticStripped(t, path)
		}
		mib := float64(len(data)) / (1 << 20)
		fmt.Fprintf(&report, "%-10s %-16s %12.1f %14.1f\n", a.Binary, imageName(a.Binary), mib, mib+distrolessStaticMiB)
	}
	t.Logf("sizes (image = binary + ~%.0f MiB of %s, an estimate):\n%s", distrolessStaticMiB, distrolessStatic, report.String())

	// The version is really buildinfo.Version: every service logs its
	// configuration, version included, when it starts. todo-api does so
	// before it connects to its database; given one that refuses at once, it
	// logs and exits.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, filepath.Join(out, "todo-api"))
	var stderr bytes.Buffer
	run.Stderr = &stderr
	run.Env = []string{
		"LOG_FORMAT=json", "HTTP_ADDR=127.0.0.1:0", "METRICS_ADDR=127.0.0.1:0",
		"JWT_SECRET=composecheck-secret-0123456789abcdef",
		"DATABASE_URL=postgres://composecheck@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
	}
	_ = run.Run() // exits 1: no database
	if !strings.Contains(stderr.String(), `"version":"`+testVersion+`"`) {
		t.Errorf("todo-api does not report version %s at start; its log:\n%s", testVersion, stderr.String())
	}
}

func assignList(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// checkStaticStripped checks an ELF binary has no dynamic loader (static,
// as CGO_ENABLED=0 makes it) and no symbol table (-s).
func checkStaticStripped(t testing.TB, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: dynamically linked (PT_INTERP): it would not run on distroless/static", filepath.Base(path))
		}
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s: has a symbol table: -s did not take effect", filepath.Base(path))
	}
}
