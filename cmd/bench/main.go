// Command bench measures the whole local system (real sidecars, the dev
// broker, PostgreSQL) and prints the tables of docs/benchmarks.md.
// `make bench` runs it; -smoke runs every step at a tiny size.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/evolution-todo/todo/internal/bench"
	"github.com/evolution-todo/todo/internal/devstack"
)

func main() {
	smoke := flag.Bool("smoke", false, "tiny sizes: check that every step works, not the numbers")
	out := flag.String("o", "", "also write the report (markdown) to this file")
	prof := flag.String("profile", "", "write CPU profiles of the Go services under 8 API clients to this directory")
	only := flag.String("only", "", "comma-separated steps to run, of "+strings.Join(bench.Steps, ",")+" (default all)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var steps []string
	if *only != "" {
		steps = strings.Split(*only, ",")
		for _, s := range steps {
			if !slices.Contains(bench.Steps, s) {
				fmt.Fprintf(os.Stderr, "bench: unknown step %q in -only; the steps are %s\n", s, strings.Join(bench.Steps, ", "))
				os.Exit(2)
			}
		}
	}
	if err := run(ctx, *smoke, *out, *prof, steps); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, smoke bool, out, profileDir string, only []string) error {
	root, err := devstack.RepoRoot()
	if err != nil {
		return err
	}
	cfg := bench.DefaultConfig()
	if smoke {
		cfg = bench.SmokeConfig()
	}
	cfg.Root, cfg.Out, cfg.ProcOut, cfg.Only, cfg.ProfileDir = root, os.Stdout, io.Discard, only, profileDir
	cfg.AdminURL = os.Getenv("DATABASE_ADMIN_URL")
	if cfg.AdminURL == "" {
		cfg.AdminURL = devstack.LocalServerURL
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	md := rep.Markdown()
	fmt.Println()
	fmt.Println(md)
	if out != "" {
		return os.WriteFile(out, []byte(md), 0o644)
	}
	return nil
}
