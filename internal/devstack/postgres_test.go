package devstack

import (
	"context"
	"io"
	"os"
	"testing"
	"time"
)

// The fallback of the local run when no server answers: a private cluster
// made with initdb and pg_ctl, reachable, and stopped by Close.
func TestPrivateCluster(t *testing.T) {
	if _, err := findPGBin("initdb"); err != nil {
		t.Skip("PostgreSQL server binaries not installed:", err)
	}
	dir, err := os.MkdirTemp("", "todo-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the server may run as user postgres
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// The cluster takes a free port: hold the machine lock so that no other
	// test package's system is about to take the same one.
	release, err := LockMachine(ctx, 15*time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	pg, err := startCluster(ctx, dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			pg.Close()
		}
	})
	if err := CreateDatabase(ctx, pg.AdminURL, "todo"); err != nil {
		t.Fatal(err)
	}
	if err := ping(ctx, pg.DatabaseURL("todo")); err != nil {
		t.Fatalf("private cluster unreachable: %v", err)
	}
	// A crash and a restart on the same address, as the fault-injection
	// suite does.
	if err := pg.Crash(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ping(ctx, pg.AdminURL); err == nil {
		t.Fatal("cluster still answers after Crash")
	}
	if err := pg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ping(ctx, pg.DatabaseURL("todo")); err != nil {
		t.Fatalf("cluster unreachable after restart: %v", err)
	}
	pg.Close()
	stopped = true
	if err := ping(ctx, pg.AdminURL); err == nil {
		t.Error("cluster still answers after Close")
	}
}

func TestWithDatabase(t *testing.T) {
	got := WithDatabase("postgres://u:p@h:5432/postgres?sslmode=disable", "todo")
	if got != "postgres://u:p@h:5432/todo?sslmode=disable" {
		t.Errorf("WithDatabase = %s", got)
	}
}
