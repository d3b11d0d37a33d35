// Package pgtest gives each test a fresh, migrated PostgreSQL database on the
// server named by TEST_DATABASE_URL (a superuser URL), or on the local server
// at 127.0.0.1:5432. The database is dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/todoapi/store"
)

// AdminURL is the server the tests create their databases on.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return devstack.LocalServerURL
}

// NewDatabase creates an empty database and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := AdminURL()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "todo_test_" + hex.EncodeToString(b[:])
	if err := devstack.CreateDatabase(ctx, admin, name); err != nil {
		t.Fatalf("pgtest: cannot create a test database on %s: %v\n"+
			"Start PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth) or set TEST_DATABASE_URL to a superuser URL.", admin, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := devstack.DropDatabase(ctx, admin, name); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	return devstack.WithDatabase(admin, name)
}

// NewPool creates a fresh database with todo-api's schema and returns a pool
// on it, closed when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := NewDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	return pool
}
