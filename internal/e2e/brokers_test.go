package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/evolution-todo/todo/client"
	"github.com/evolution-todo/todo/internal/devstack"
)

// TestEveryBroker runs the event flow on each broker but the one the rest
// of this run uses ($BROKER, Kafka by default), or on those of
// E2E_OTHER_BROKERS (comma-separated: make test runs the whole suite on
// Redis and RabbitMQ, and this on MQTT only): a reminder reaches the
// inbox, a completion makes one next occurrence, the audit history has
// the task's events, web-app's live stream gets them, and one task's events
// delivered shuffled and duplicated still have the right effects
// (checkShuffled). internal/brokersuite checks the pub/sub layer itself on
// each; this checks the system on top of it.
func TestEveryBroker(t *testing.T) {
	current, err := devstack.ParseBroker(os.Getenv("BROKER"))
	if err != nil {
		t.Fatal(err)
	}
	others := devstack.Brokers
	if list := os.Getenv("E2E_OTHER_BROKERS"); list != "" {
		others = nil
		for _, name := range strings.Split(list, ",") {
			b, err := devstack.ParseBroker(strings.TrimSpace(name))
			if err != nil {
				t.Fatalf("E2E_OTHER_BROKERS: %v", err)
			}
			others = append(others, b)
		}
	}
	for _, b := range others {
		if b == current {
			continue
		}
		t.Run(string(b), func(t *testing.T) {
			if why := devstack.BrokerMissing(b); why != "" {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s: %s", b, why)
				}
				t.Skipf("%s: %s", b, why)
			}
			e := startSystemWith(t, func(c *devstack.Config) { c.Broker = b })
			checkFlow(t, e)
			checkShuffled(t, e)
		})
	}
}

// checkFlow follows one recurring task with a reminder through every
// consumer.
func checkFlow(t *testing.T, e *env) {
	t.Helper()
	past := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	due := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	tk := e.create(client.NewTask{Title: "Water the plants", Recurrence: client.RecurrenceDaily, DueAt: &due, ReminderAt: &past})
	eventually(t, time.Minute, "the reminder reaches the inbox", func() bool { return len(e.inboxFor(tk.ID)) > 0 })
	e.complete(tk.ID)
	eventually(t, time.Minute, "the next occurrence exists", func() bool { return len(e.nextOf(tk.ID)) > 0 })
	eventually(t, time.Minute, "the history has the creation and the completion", func() bool {
		var types []string
		for _, h := range e.history(tk.ID) {
			types = append(types, h.EventType)
		}
		return len(types) >= 2 && types[0] == "TaskCreated" && types[len(types)-1] == "TaskCompleted"
	})
	// (The completion: web-app's subscription may start after the creation,
	// on a broker that keeps nothing for a consumer not yet there.)
	eventually(t, time.Minute, "web-app's live stream got the completion", func() bool {
		for _, rec := range e.logLines("web-app", "live task event") {
			if rec["task_id"] == float64(tk.ID) && rec["event_type"] == "TaskCompleted" {
				return true
			}
		}
		return false
	})
	time.Sleep(2 * time.Second)
	if next := e.nextOf(tk.ID); len(next) != 1 {
		t.Errorf("%d next occurrences, want 1", len(next))
	}
	if n := e.inboxFor(tk.ID); len(n) != 1 {
		t.Errorf("%d notifications, want 1", len(n))
	}
}
