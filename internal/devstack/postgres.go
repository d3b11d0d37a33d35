package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// LocalServerURL is the machine's PostgreSQL server, as a superuser.
const LocalServerURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Postgres is a PostgreSQL server for the local system or the tests.
type Postgres struct {
	AdminURL string // a superuser connection to the "postgres" database
	Source   string // where it came from, for messages
	stop     func()
	crash    func(ctx context.Context) error // private clusters only
	start    func(ctx context.Context) error
}

// Crash stops a private cluster the way a power cut would (pg_ctl stop -m
// immediate: no checkpoint, recovery at the next start). Tests use it.
func (p *Postgres) Crash(ctx context.Context) error {
	if p.crash == nil {
		return errors.New("only a private cluster can be crashed")
	}
	return p.crash(ctx)
}

// Start starts a private cluster again on the same port.
func (p *Postgres) Start(ctx context.Context) error {
	if p.start == nil {
		return errors.New("only a private cluster can be started")
	}
	return p.start(ctx)
}

// Close stops the server if this process started it.
func (p *Postgres) Close() {
	if p.stop != nil {
		p.stop()
	}
}

// DatabaseURL returns AdminURL pointed at database name.
func (p *Postgres) DatabaseURL(name string) string { return WithDatabase(p.AdminURL, name) }

// WithDatabase returns the connection URL u with its database set to name.
func WithDatabase(u, name string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	parsed.Path = "/" + name
	return parsed.String()
}

// ResolvePostgres finds a server: adminURL when given; else the local server
// on 127.0.0.1:5432; else a cluster of its own made with initdb/pg_ctl in
// dataDir (kept across runs, stopped by Close). When none can be had it says
// what to install.
func ResolvePostgres(ctx context.Context, adminURL, dataDir string, log io.Writer) (*Postgres, error) {
	if adminURL != "" {
		if err := ping(ctx, adminURL); err != nil {
			return nil, fmt.Errorf("PostgreSQL at the configured URL is unreachable: %w", err)
		}
		return &Postgres{AdminURL: adminURL, Source: "configured URL"}, nil
	}
	if err := ping(ctx, LocalServerURL); err == nil {
		return &Postgres{AdminURL: LocalServerURL, Source: "local server 127.0.0.1:5432"}, nil
	}
	fmt.Fprintf(log, "no PostgreSQL server answers on 127.0.0.1:5432; starting a private cluster in %s\n", dataDir)
	pg, err := startCluster(ctx, dataDir, log)
	if err != nil {
		return nil, fmt.Errorf(`no PostgreSQL available: %w

Do one of:
  - set DATABASE_URL to a PostgreSQL 13+ server you can create databases on;
  - start a local server on 127.0.0.1:5432 that lets user postgres in
    (Debian/Ubuntu: sudo apt-get install postgresql && sudo service postgresql start);
  - install the server binaries (initdb, pg_ctl) so that a private cluster can be made`, err)
	}
	return pg, nil
}

func ping(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}

// findPGBin finds a PostgreSQL server program on PATH or in Debian's layout.
func findPGBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/lib/postgresql/*/bin", name)
}

// StartPrivateCluster makes (once) and starts a cluster of its own in dir,
// whatever else runs; for tests that crash and restart PostgreSQL.
func StartPrivateCluster(ctx context.Context, dir string, log io.Writer) (*Postgres, error) {
	return startCluster(ctx, dir, log)
}

// startCluster makes (once) and starts a cluster in dir on a free port.
// PostgreSQL refuses to run as root, so as root it runs as user postgres.
func startCluster(ctx context.Context, dir string, log io.Writer) (*Postgres, error) {
	initdb, err := findPGBin("initdb")
	if err != nil {
		return nil, err
	}
	pgctl, err := findPGBin("pg_ctl")
	if err != nil {
		return nil, err
	}
	var runAs []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("running as root and there is no postgres user to run the server as")
		}
		runAs = []string{"runuser", "-u", "postgres", "--"}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	run := func(ctx context.Context, args ...string) error {
		full := append(append([]string{}, runAs...), args...)
		cmd := exec.CommandContext(ctx, full[0], full[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		return cmd.Run()
	}
	data := filepath.Join(dir, "data")
	if !fileExists(filepath.Join(data, "PG_VERSION")) {
		fmt.Fprintf(log, "initdb %s\n", data)
		if err := run(ctx, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions"); err != nil {
			return nil, fmt.Errorf("initdb: %w", err)
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c max_connections=200", port, dir)
	start := func(ctx context.Context) error {
		if err := run(ctx, pgctl, "-D", data, "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start"); err != nil {
			return fmt.Errorf("pg_ctl start (log in %s): %w", filepath.Join(dir, "server.log"), err)
		}
		return nil
	}
	if err := start(ctx); err != nil {
		return nil, err
	}
	return &Postgres{
		AdminURL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		Source:   "private cluster in " + dir,
		stop:     func() { _ = run(context.WithoutCancel(ctx), pgctl, "-D", data, "-m", "fast", "-w", "stop") },
		crash:    func(ctx context.Context) error { return run(ctx, pgctl, "-D", data, "-m", "immediate", "-w", "stop") },
		start:    start,
	}, nil
}

// CreateDatabase creates database name on the server (no error if it exists).
func CreateDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	var pgErr *pgconn.PgError
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil &&
		(!errors.As(err, &pgErr) || pgErr.Code != "42P04") { // 42P04: created meanwhile by someone else
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// DropDatabase drops database name, disconnecting its sessions.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}
