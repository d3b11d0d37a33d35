// Package migrate applies a service's embedded goose migrations to
// PostgreSQL. Each service keeps its own version table and advisory lock,
// so several schemas can share one database and several replicas can start
// at once.
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Up applies the migrations in fsys (*.sql at its root) that are not yet
// recorded in table, holding the PostgreSQL advisory lock lockID (goose's
// default when 0) while it does.
func Up(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, table string, lockID int64, log *slog.Logger) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	var opts []lock.SessionLockerOption
	if lockID != 0 {
		opts = append(opts, lock.WithLockID(lockID))
	}
	locker, err := lock.NewPostgresSessionLocker(opts...)
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(table),
	)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "table", table, "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}
