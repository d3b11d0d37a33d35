package todoapi

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/config"
	"github.com/evolution-todo/todo/internal/service"
	"github.com/evolution-todo/todo/internal/telemetry"
	"github.com/evolution-todo/todo/internal/todoapi/api"
	"github.com/evolution-todo/todo/internal/todoapi/outbox"
	"github.com/evolution-todo/todo/internal/todoapi/store"
)

const usage = `usage: todo-api [command]

commands:
  serve     run the API and the outbox relay (default)
  migrate   apply database migrations and exit
  token     print a bearer token: todo-api token -user alice [-ttl 24h]

Configuration comes from the environment; see the README.`

// Run runs the command named by args (without the program name), with the
// configuration of the process environment.
func Run(ctx context.Context, log *slog.Logger, args []string, stdout io.Writer) error {
	return run(ctx, log, args, config.Environ(), stdout)
}

func run(ctx context.Context, log *slog.Logger, args []string, environ map[string]string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, log, environ)
	case "migrate":
		return migrate(ctx, log, environ)
	case "token":
		return token(args, environ, stdout)
	case "help", "-h", "--help":
		_, _ = fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

func token(args []string, environ map[string]string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	user := fs.String("user", "", "user id (the token's sub)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" {
		return errors.New("token: -user is required")
	}
	var cfg JWTConfig
	if err := service.Load(&cfg, environ); err != nil {
		return err
	}
	if cfg.Secret == "" {
		return errors.New("token: JWT_SECRET is required: this command signs HS256 tokens with it " +
			"(with only JWT_JWKS_URL set, tokens come from your identity provider)")
	}
	tok, err := auth.Mint(cfg.Auth(), *user, *ttl, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// newVerifier accepts the identity provider's tokens (JWT_*) and web-app's
// (WEB_TOKEN_*), each issuer with its own keys. With a JWKS, the first
// fetch of the keys is bounded; when it fails the server starts anyway,
// refuses those tokens and keeps trying.
func newVerifier(ctx context.Context, cfg Config, log *slog.Logger) (*auth.Issuers, error) {
	var idp *auth.Verifier
	var others []*auth.Verifier
	if cfg.JWT.Secret != "" || cfg.JWT.JWKSURL != "" {
		a := cfg.JWT.Auth()
		a.Logger = log
		v, err := auth.NewVerifierContext(ctx, a)
		if err != nil {
			return nil, err
		}
		idp = v
	}
	if cfg.WebTokens.Issuer != "" {
		a := cfg.webAuth()
		a.Logger = log
		v, err := auth.NewVerifierContext(ctx, a)
		if err != nil {
			idp.Close()
			return nil, err
		}
		others = append(others, v)
	}
	return auth.NewIssuers(idp, others...)
}

func openDB(ctx context.Context, url string, maxConns int) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if maxConns > 0 && !strings.Contains(url, "pool_max_conns") {
		pcfg.MaxConns = int32(maxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database %s unreachable: %w", config.MaskURL(url), err)
	}
	return pool, nil
}

func migrate(ctx context.Context, log *slog.Logger, environ map[string]string) error {
	var db service.Database
	if err := service.Load(&db, environ); err != nil {
		return err
	}
	pool, err := openDB(ctx, db.DatabaseURL, 0)
	if err != nil {
		return err
	}
	defer pool.Close()
	return store.Migrate(ctx, pool, log)
}

func serve(ctx context.Context, log *slog.Logger, environ map[string]string) error {
	cfg, err := LoadConfig(environ)
	if err != nil {
		return err
	}
	service.Starting(log, "todo-api", cfg)

	pool, err := openDB(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return err
	}
	defer pool.Close()
	if cfg.MigrateOnStart {
		if err := store.Migrate(ctx, pool, log); err != nil {
			return err
		}
	}
	verifier, err := newVerifier(ctx, cfg, log.With("component", "auth"))
	if err != nil {
		return err
	}
	defer verifier.Close()

	st := store.New(pool)
	tm := telemetry.NewMetrics("todo-api")
	olog := log.With("component", "outbox")
	relay := outbox.New(pool, cfg.Dapr().WithLog(olog), olog, outbox.Config{
		PubSub: cfg.PubSub, BatchSize: cfg.OutboxBatch, PollInterval: cfg.OutboxPoll,
	}).WithMetrics(outbox.NewMetrics(tm.Registry, pool))
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		_ = relay.Run(relayCtx)
	}()
	cfg.WarnIfOpen(log)
	srv := api.New(st, verifier, cfg.Dapr(), log, api.Config{
		AppToken: cfg.AppAPIToken, AuditAppID: cfg.AuditAppID, NotifierAppID: cfg.NotifierAppID,
		WriteRate: cfg.WriteRate, WriteBurst: cfg.WriteBurst,
	})
	err = service.Serve(ctx, log, cfg.Common, cfg.HTTPAddr, tm,
		service.Handlers{Public: tm.Instrument(srv.PublicHandler()), App: tm.Instrument(srv.AppHandler())})
	stopRelay()
	<-relayDone
	return err
}
