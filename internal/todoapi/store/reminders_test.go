package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evolution-todo/todo/internal/pgtest"
	"github.com/evolution-todo/todo/internal/todoapi/store"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// contains reports whether list holds the reminder of task id for time at.
func contains(list []task.Reminder, id int64, at time.Time) bool {
	for _, r := range list {
		if r.TaskID == id && r.ReminderAt.Equal(at) {
			return true
		}
	}
	return false
}

// A reminder that a sweep listed (and so may have published) is recorded as
// sent whatever happens to its task before the sweep marks it, and it is
// listed again until it is marked, so a sweep that published it and then died
// before the mark is followed by one that publishes the same id again and
// marks it. This is the race the fault-injection run hit: publish accepted,
// task completed (or its reminder moved) before the mark.
func TestListedReminderIsRecordedSentWhateverHappensToTheTask(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	now := time.Now().UTC().Truncate(time.Microsecond)
	past := now.Add(-time.Hour)
	later, earlier := now.Add(time.Hour), now.Add(-2*time.Hour)
	useClock(s).set(past.Add(-time.Minute)) // the reminders are set before they are due

	changes := []struct {
		name   string
		change func(t *testing.T, id int64)
	}{
		{"nothing", func(*testing.T, int64) {}},
		{"completed", func(t *testing.T, id int64) {
			if _, err := s.CompleteTask(ctx, "alice", id); err != nil {
				t.Fatal(err)
			}
		}},
		{"deleted", func(t *testing.T, id int64) {
			if err := s.DeleteTask(ctx, "alice", id); err != nil {
				t.Fatal(err)
			}
		}},
		{"reminder moved later", func(t *testing.T, id int64) {
			if _, err := s.UpdateTask(ctx, "alice", id, task.Patch{ReminderAt: task.Some(&later)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"reminder moved earlier", func(t *testing.T, id int64) {
			if _, err := s.UpdateTask(ctx, "alice", id, task.Patch{ReminderAt: task.Some(&earlier)}); err != nil {
				t.Fatal(err)
			}
		}},
		{"reminder cleared", func(t *testing.T, id int64) {
			if _, err := s.UpdateTask(ctx, "alice", id, task.Patch{ReminderAt: task.Some[*time.Time](nil)}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, markLost := range []bool{false, true} {
		for _, c := range changes {
			name := c.name + ", mark arrives"
			if markLost {
				name = c.name + ", sweep dies before the mark"
			}
			t.Run(name, func(t *testing.T) {
				tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some(name), ReminderAt: task.Some(&past)})
				if err != nil {
					t.Fatal(err)
				}
				list, err := s.DueReminders(ctx, now, nil, 1000)
				if err != nil || !contains(list, tk.ID, past) {
					t.Fatalf("due reminders = %+v, %v; want task %d at %s", list, err, tk.ID, past)
				}
				// The sweep publishes (the broker accepts), then the task changes.
				c.change(t, tk.ID)
				if markLost {
					// The next sweep lists it again, whatever the task's state.
					list, err := s.DueReminders(ctx, now, nil, 1000)
					if err != nil || !contains(list, tk.ID, past) {
						t.Fatalf("after a lost mark and %s, due reminders = %+v, %v; want task %d at %s listed again",
							c.name, list, err, tk.ID, past)
					}
				}
				n, err := s.MarkReminded(ctx, []task.Reminder{{TaskID: tk.ID, ReminderAt: past}})
				if err != nil || n != 1 {
					t.Fatalf("mark after %s: %d, %v; want 1 recorded", c.name, n, err)
				}
				if sent := sentFor(t, pool, tk.ID); len(sent) != 1 || !sent[0].Equal(past) {
					t.Errorf("recorded sent for task %d: %v, want [%s]", tk.ID, sent, past)
				}
				list, err = s.DueReminders(ctx, now, nil, 1000)
				if err != nil || contains(list, tk.ID, past) {
					t.Errorf("after the mark, due reminders = %+v, %v; want no task %d at %s", list, err, tk.ID, past)
				}
				// Once per (task, reminder time): moving the reminder back
				// to the time already sent does not fire it again.
				if c.name == "reminder moved later" || c.name == "reminder moved earlier" || c.name == "reminder cleared" {
					if _, err := s.UpdateTask(ctx, "alice", tk.ID, task.Patch{ReminderAt: task.Some(&past)}); err != nil {
						t.Fatal(err)
					}
					if list, err := s.DueReminders(ctx, now, nil, 1000); err != nil || contains(list, tk.ID, past) {
						t.Errorf("reminder moved back to the time already sent: due = %+v, %v; want no task %d", list, err, tk.ID)
					}
				}
			})
		}
	}
}

// A task completed or deleted before any sweep listed its reminder never
// gets one: the record of listed reminders is what may still be sent.
func TestReminderOfATaskClosedBeforeTheSweepIsNeverListed(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	now := time.Now().UTC().Truncate(time.Microsecond)
	past := now.Add(-time.Hour)
	useClock(s).set(past.Add(-time.Minute))
	done, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("done"), ReminderAt: task.Some(&past)})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("gone"), ReminderAt: task.Some(&past)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteTask(ctx, "alice", done.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTask(ctx, "alice", gone.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if list, err := s.DueReminders(ctx, now, nil, 1000); err != nil || len(list) != 0 {
			t.Fatalf("due reminders = %+v, %v; want none", list, err)
		}
	}
	if n := len(sentFor(t, pool, done.ID)) + len(sentFor(t, pool, gone.ID)); n != 0 {
		t.Errorf("%d reminders recorded sent for closed tasks, want 0", n)
	}
}

// Several sweeps (replicas) listing and marking the same reminders at once
// record each (task, reminder time) once, and leave none due.
func TestConcurrentSweepsRecordEachReminderOnce(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	s := store.New(pool)
	now := time.Now().UTC().Truncate(time.Microsecond)
	var ids []int64
	for i := range 50 {
		at := now.Add(-time.Duration(i+1) * time.Second)
		tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("t"), ReminderAt: task.Some(&at)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			list, err := s.DueReminders(ctx, now, nil, 1000)
			if err != nil {
				t.Error(err)
				return
			}
			if i%2 == 1 { // this replica completes half the tasks after listing
				for _, r := range list[:len(list)/2] {
					_, _ = s.CompleteTask(ctx, "alice", r.TaskID)
				}
			}
			if _, err := s.MarkReminded(ctx, list); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if sent := sentFor(t, pool, id); len(sent) != 1 {
			t.Errorf("task %d: recorded sent %v, want once", id, sent)
		}
	}
	if list, err := s.DueReminders(ctx, now, nil, 1000); err != nil || len(list) != 0 {
		t.Errorf("after the sweeps, due reminders = %+v, %v; want none", list, err)
	}
}

// sentFor returns the reminder times recorded sent for task id, read from
// the record itself.
func sentFor(t *testing.T, pool *pgxpool.Pool, id int64) []time.Time {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT reminder_at FROM task_reminders WHERE task_id = $1 AND sent_at IS NOT NULL ORDER BY reminder_at`, id)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		t.Fatal(err)
	}
	return sent
}

// A reminder whose publish the sidecar refused is released: it is listed
// again while its task is open and the reminder due, and never once the
// task is completed, deleted or its reminder moved (the reviewer's case: the
// broker down for hours while the user completes the task). A reminder
// recorded sent is not released.
func TestReleasedReminderIsListedOnlyFromItsTask(t *testing.T) {
	ctx := context.Background()
	s := store.New(pgtest.NewPool(t))
	now := time.Now().UTC().Truncate(time.Microsecond)
	past, later := now.Add(-time.Hour), now.Add(time.Hour)
	useClock(s).set(past.Add(-time.Minute))
	for _, c := range []struct {
		name    string
		change  func(id int64) error
		wantDue bool
	}{
		{"task still open", func(int64) error { return nil }, true},
		{"task completed", func(id int64) error { _, err := s.CompleteTask(ctx, "alice", id); return err }, false},
		{"task deleted", func(id int64) error { return s.DeleteTask(ctx, "alice", id) }, false},
		{"reminder moved later", func(id int64) error {
			_, err := s.UpdateTask(ctx, "alice", id, task.Patch{ReminderAt: task.Some(&later)})
			return err
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some(c.name), ReminderAt: task.Some(&past)})
			if err != nil {
				t.Fatal(err)
			}
			if list, err := s.DueReminders(ctx, now, nil, 1000); err != nil || !contains(list, tk.ID, past) {
				t.Fatalf("due = %+v, %v", list, err)
			}
			// The publish is refused; the sweep gives the claim back.
			if n, err := s.ReleaseReminders(ctx, []task.Reminder{{TaskID: tk.ID, ReminderAt: past}}); err != nil || n != 1 {
				t.Fatalf("release: %d, %v; want 1", n, err)
			}
			if err := c.change(tk.ID); err != nil {
				t.Fatal(err)
			}
			list, err := s.DueReminders(ctx, now, nil, 1000)
			if err != nil || contains(list, tk.ID, past) != c.wantDue {
				t.Errorf("after the release and %s: due = %+v, %v; want listed %v", c.name, list, err, c.wantDue)
			}
		})
	}
	t.Run("a reminder recorded sent is not released", func(t *testing.T) {
		tk, err := s.CreateTask(ctx, "alice", task.Patch{Title: task.Some("sent"), ReminderAt: task.Some(&past)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DueReminders(ctx, now, nil, 1000); err != nil {
			t.Fatal(err)
		}
		if n, err := s.MarkReminded(ctx, []task.Reminder{{TaskID: tk.ID, ReminderAt: past}}); err != nil || n != 1 {
			t.Fatalf("mark: %d, %v", n, err)
		}
		if n, err := s.ReleaseReminders(ctx, []task.Reminder{{TaskID: tk.ID, ReminderAt: past}}); err != nil || n != 0 {
			t.Errorf("release of a sent reminder: %d, %v; want 0", n, err)
		}
		if list, _ := s.DueReminders(ctx, now, nil, 1000); contains(list, tk.ID, past) {
			t.Errorf("a sent reminder is due again after a release")
		}
	})
}
