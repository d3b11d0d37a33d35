package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the database schema up to date. It is safe to run from
// several processes at once: goose takes a PostgreSQL advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if err := migrate.Up(ctx, pool, fsys, "todo_schema_migrations", 0, log); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
