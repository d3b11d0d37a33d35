package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/evolution-todo/todo/internal/auth"
	"github.com/evolution-todo/todo/internal/config"
)

// Launch is the devstack command: it starts the whole local system, prints
// where it is and a token, streams logs, and stops everything when ctx ends.
func Launch(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	dbName := fs.String("db", "todo", "database name (ignored when DATABASE_URL is set)")
	user := fs.String("user", "demo", "user id of the printed token")
	cron := fs.String("cron", "@every 30s", "reminder sweep period (production: @every 5m)")
	persistBroker := fs.Bool("persist-broker", true, "keep broker data in .cache/broker across runs")
	daprLog := fs.String("dapr-log-level", "warn", "daprd log level (debug, info, warn, error)")
	brokerName := fs.String("broker", os.Getenv("BROKER"), "pub/sub broker: "+brokerList()+" (default kafka, the dev broker; $BROKER)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	broker, err := ParseBroker(*brokerName)
	if err != nil {
		return err
	}
	say := func(format string, a ...any) { fmt.Fprintf(out, "devstack | "+format+"\n", a...) }

	root, err := RepoRoot()
	if err != nil {
		return err
	}
	cache := filepath.Join(root, ".cache")

	say("1/5 daprd %s", DaprVersion)
	daprd, err := EnsureDaprd(ctx, root, out)
	if err != nil {
		return err
	}
	say("    using %s", daprd)

	say("2/5 building services")
	start := time.Now()
	binDir := filepath.Join(cache, "bin")
	if err := BuildBinaries(ctx, root, binDir, Binaries...); err != nil {
		return err
	}
	say("    built %s in %s", strings.Join(Binaries, ", "), time.Since(start).Round(time.Millisecond))

	say("3/5 PostgreSQL")
	dbURL := os.Getenv("DATABASE_URL")
	var pg *Postgres
	if dbURL == "" {
		if pg, err = ResolvePostgres(ctx, "", filepath.Join(cache, "pg"), out); err != nil {
			return err
		}
		defer pg.Close()
		if err := CreateDatabase(ctx, pg.AdminURL, *dbName); err != nil {
			return err
		}
		dbURL = pg.DatabaseURL(*dbName)
		say("    %s, database %q", pg.Source, *dbName)
	} else {
		say("    DATABASE_URL")
	}

	secret, err := devSecret(filepath.Join(cache, "dev", "jwt-secret"), "JWT_SECRET", randomHex)
	if err != nil {
		return err
	}
	// Kept across runs, so that the browser's session and the tokens of a
	// run still work after a restart.
	cookieKeys, err := devSecret(filepath.Join(cache, "dev", "cookie-key"), "COOKIE_KEYS", randomHex)
	if err != nil {
		return err
	}
	tokenKeys, err := devSecret(filepath.Join(cache, "dev", "web-token-key"), "API_TOKEN_KEYS", NewSigningKey)
	if err != nil {
		return err
	}
	brokerData := ""
	if *persistBroker {
		brokerData = filepath.Join(cache, "broker")
	}
	say("4/5 starting the broker (%s), then each service with its Dapr sidecar", broker)
	sys, err := Up(ctx, Config{
		Root: root, WorkDir: filepath.Join(cache, "run"), Out: out, Daprd: daprd, BinDir: binDir,
		DatabaseURL: dbURL, FixedPorts: true, Broker: broker, BrokerDataDir: brokerData, CronSchedule: *cron,
		JWTSecret: secret, CookieKeys: cookieKeys, TokenKeys: tokenKeys, LogFormat: "text", DaprLogLevel: *daprLog, DevSignIn: true,
	})
	if err != nil {
		return err
	}
	defer func() {
		say("stopping everything...")
		sys.Close()
		say("stopped")
	}()
	// Operators' commands (make dead-letters) call the sidecars with it.
	if err := os.WriteFile(filepath.Join(cache, "dev", "dapr-api-token"), []byte(sys.DaprToken+"\n"), 0o600); err != nil {
		return err
	}

	token, err := auth.Mint(auth.Config{Secret: []byte(secret)}, *user, 24*time.Hour, time.Now())
	if err != nil {
		return err
	}
	api := sys.APIURL()
	say("5/5 ready in %s", time.Since(start).Round(100*time.Millisecond))
	var apps strings.Builder
	fmt.Fprintf(&apps, "   %-21s %-22s %-22s %-22s %s\n", "app", "public", "app port (sidecar's)", "sidecar", "metrics")
	for _, a := range Apps {
		if inst := sys.Instances[a.ID]; inst != nil {
			public := inst.URL()
			if public == "" {
				public = "-"
			}
			fmt.Fprintf(&apps, "   %-21s %-22s %-22s %-22s %s\n", a.ID, public, inst.AppURL(), inst.Sidecar.HTTPEndpoint(), inst.MetricsURL())
		}
	}
	fmt.Fprintf(out, `
================================================================================
 The todo system is running.

   Open %[9]s/ in your browser and sign in with any user name.

   API            %[1]s   (OpenAPI: %[1]s/api/openapi.json)
   Broker         %[2]s
   Database       %[3]s
   Reminder sweep %[7]s

%[8]s
 A token for user %[4]q, valid 24h:

   export TOKEN=%[5]s

 Try:
   curl -s -X POST %[1]s/api/tasks -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' \
        -d '{"title":"Water the plants","recurrence":"daily","due_at":"%[6]s","reminder_at":"%[6]s"}'
   curl -s %[1]s/api/tasks -H "Authorization: Bearer $TOKEN"
   curl -s %[1]s/api/tasks/1/history -H "Authorization: Bearer $TOKEN"
   curl -s %[1]s/api/notifications -H "Authorization: Bearer $TOKEN"

 Token for another user:  make token USER_ID=alice
 Dead-lettered events:    make dead-letters
 Ctrl-C stops everything.
================================================================================

`, api, string(sys.BrokerKind)+" at "+sys.BrokerAddr()+vhostNote(sys), config.MaskURL(dbURL), *user, token,
		time.Now().UTC().Add(time.Minute).Truncate(time.Second).Format(time.RFC3339), *cron, apps.String(), sys.Instances["web-app"].URL())

	select {
	case <-ctx.Done():
		return nil
	case <-firstExit(sys):
		return errors.New("a process exited unexpectedly; see its log lines above")
	}
}

// vhostNote names a RabbitMQ system's virtual host.
func vhostNote(sys *System) string {
	if sys.Vhost == "" {
		return ""
	}
	return ", virtual host " + sys.Vhost
}

// firstExit is closed when any process of the system exits.
func firstExit(sys *System) <-chan struct{} {
	ch := make(chan struct{})
	var procs []*Process
	if sys.Broker != nil {
		procs = append(procs, sys.Broker)
	}
	for _, inst := range sys.Instances {
		procs = append(procs, inst.Proc, inst.Daprd)
	}
	for _, p := range procs {
		go func() {
			<-p.Done()
			select {
			case <-ch:
			default:
				close(ch)
			}
		}()
	}
	return ch
}

// devSecret reads a local run's secret from path, making it with make on
// first use. The environment variable env wins.
func devSecret(path, env string, make func() string) (string, error) {
	if s := os.Getenv(env); s != "" {
		return s, nil
	}
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= auth.MinSecretLen {
		return strings.TrimSpace(string(b)), nil
	}
	s := make()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return s, os.WriteFile(path, []byte(s+"\n"), 0o600)
}

// randomHex is 32 random bytes in hex: a secret of the local run.
func randomHex() string {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	return hex.EncodeToString(raw[:])
}
