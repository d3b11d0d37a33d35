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
	"strconv"
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
	apps := flag.String("apps", "", "comma-separated app ids to start (default all); with fewer, only the baseline and api steps can run")
	rates := flag.String("rates", "", "comma-separated end-to-end rates, writes per second (default 100 to 300 by 25, then 400 and 500; the API's own maximum is always added)")
	soak := flag.Duration("soak", 0, "length of the soak step (default 10m)")
	logLevel := flag.String("log-level", "warn", "log level of the services and their sidecars (info measures logging's cost)")
	broker := flag.String("broker", os.Getenv("BROKER"), "pub/sub broker: kafka (the dev broker, default), redis, rabbitmq or mqtt ($BROKER)")
	flag.Parse()
	cfg := bench.DefaultConfig()
	if *smoke {
		cfg = bench.SmokeConfig()
	}
	cfg.LogLevel = *logLevel
	b, err := devstack.ParseBroker(*broker)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: -broker:", err)
		os.Exit(2)
	}
	cfg.Broker = b
	if *soak > 0 {
		cfg.Soak = *soak
	}
	if *rates != "" {
		cfg.Rates = nil
		for _, r := range split(*rates) {
			n, err := strconv.Atoi(r)
			if err != nil || n <= 0 {
				fmt.Fprintf(os.Stderr, "bench: -rates: %q is not a positive integer\n", r)
				os.Exit(2)
			}
			cfg.Rates = append(cfg.Rates, n)
		}
	}
	cfg.Out, cfg.ProcOut, cfg.ProfileDir = os.Stdout, io.Discard, *prof
	cfg.Only, cfg.OnlyApps = split(*only), split(*apps)
	if err := cfg.Check(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func run(ctx context.Context, cfg bench.Config, out string) error {
	root, err := devstack.RepoRoot()
	if err != nil {
		return err
	}
	cfg.Root = root
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
