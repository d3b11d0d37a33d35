package store_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/recurrence"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// The migrated database's CHECK constraints on tasks allow exactly the
// code's recurrences and priorities: read from pg_constraint, and tried.
func TestCheckConstraintsMatchTheCode(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	defs := checkConstraints(t, pool, "tasks")

	var rules []string
	for _, r := range recurrence.Rules() {
		rules = append(rules, string(r))
	}
	if got := recurrenceCheck(t, defs); !slices.Equal(got, rules) {
		t.Errorf("CHECK on tasks.recurrence allows %q, want %q (recurrence.Rules)", got, rules)
	}
	ps := task.Priorities()
	lo, hi := priorityCheck(t, defs)
	if lo != int(ps[0]) || hi != int(ps[len(ps)-1]) {
		t.Errorf("CHECK on tasks.priority allows %d..%d, want %d..%d (task.Priorities)", lo, hi, int(ps[0]), int(ps[len(ps)-1]))
	}

	// And the database agrees: every value is stored, the next one is not.
	insert := func(rec string, pri int) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO tasks (user_id, title, recurrence, priority, created_at, updated_at)
				VALUES ('u', 't', $1, $2, now(), now())`, rec, pri)
			if err != nil {
				return err
			}
			return errRollback
		})
	}
	for _, r := range recurrence.Rules() {
		if err := insert(string(r), 0); !errors.Is(err, errRollback) {
			t.Errorf("recurrence %q refused: %v", r, err)
		}
	}
	for _, p := range ps {
		if err := insert("none", int(p)); !errors.Is(err, errRollback) {
			t.Errorf("priority %v (%d) refused: %v", p, int(p), err)
		}
	}
	for _, bad := range []struct {
		rec string
		pri int
	}{{"hourly", 0}, {"Daily", 0}, {"none", int(ps[0]) - 1}, {"none", int(ps[len(ps)-1]) + 1}} {
		var pe *pgconn.PgError
		if err := insert(bad.rec, bad.pri); !errors.As(err, &pe) || pe.Code != "23514" {
			t.Errorf("recurrence %q, priority %d: err = %v, want a check violation", bad.rec, bad.pri, err)
		}
	}
}

var errRollback = errors.New("rollback")

func checkConstraints(t *testing.T, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY conname`, table)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

// recurrenceCheck reads the values of a CHECK such as
// ((recurrence = ANY (ARRAY['none'::text, 'daily'::text])))
// (how PostgreSQL prints recurrence IN ('none', 'daily')).
func recurrenceCheck(t *testing.T, defs []string) []string {
	t.Helper()
	array := regexp.MustCompile(`^CHECK \(\(recurrence = ANY \(ARRAY\[(.*)\]\)\)\)$`)
	value := regexp.MustCompile(`'([^']*)'::text`)
	for _, d := range defs {
		if m := array.FindStringSubmatch(d); m != nil {
			var vals []string
			for _, v := range value.FindAllStringSubmatch(m[1], -1) {
				vals = append(vals, v[1])
			}
			return vals
		}
	}
	t.Fatalf("no CHECK of the form recurrence IN (...) on tasks; constraints: %q", defs)
	return nil
}

// priorityCheck reads the bounds of a CHECK such as
// (((priority >= 0) AND (priority <= 3))) (priority BETWEEN 0 AND 3).
func priorityCheck(t *testing.T, defs []string) (lo, hi int) {
	t.Helper()
	between := regexp.MustCompile(`^CHECK \(\(\(priority >= (-?\d+)\) AND \(priority <= (-?\d+)\)\)\)$`)
	for _, d := range defs {
		if m := between.FindStringSubmatch(d); m != nil {
			lo, _ = strconv.Atoi(m[1])
			hi, _ = strconv.Atoi(m[2])
			return lo, hi
		}
	}
	t.Fatalf("no CHECK of the form priority BETWEEN lo AND hi on tasks; constraints: %q", defs)
	return 0, 0
}
