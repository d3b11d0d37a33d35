package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Rendering for an environment changes only addresses and the cron period.
func TestRenderChangesOnlyAddressesAndPeriod(t *testing.T) {
	src := filepath.Join("..", "..", "components")
	dst := t.TempDir()
	err := RenderComponents(src, dst, Overrides{
		BrokerAddress:   "127.0.0.1:19092",
		StateConnection: "postgres://u@127.0.0.1:5433/x",
		CronSchedule:    "@every 2s",
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := ComponentMetadata(src)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ComponentMetadata(dst)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]string{
		"kafka-pubsub/brokers":        "127.0.0.1:19092",
		"live-pubsub/brokers":         "127.0.0.1:19092",
		"statestore/connectionString": "postgres://u@127.0.0.1:5433/x",
		"reminder-cron/schedule":      "@every 2s",
	}
	for name, md := range before {
		for k, v := range md {
			got := after[name][k]
			if want, ok := changed[name+"/"+k]; ok {
				if got != want {
					t.Errorf("%s/%s = %q, want %q", name, k, got, want)
				}
			} else if got != v {
				t.Errorf("%s/%s changed from %q to %q", name, k, v, got)
			}
		}
		if len(after[name]) != len(md) {
			t.Errorf("%s: metadata keys %v became %v", name, md, after[name])
		}
	}
	// The contract: names, types and the settings the design depends on.
	want := map[string]map[string]string{
		"kafka-pubsub": {"type": "pubsub.kafka", "consumerGroup": "{appID}"},
		// One consumer group per replica of web-app, starting at the newest
		// event: every replica pushes every event to its browsers.
		"live-pubsub": {"type": "pubsub.kafka", "consumerGroup": "{appID}-{uuid}", "initialOffset": "newest", "scopes": "web-app"},
		"statestore":  {"type": "state.postgresql"},
		// Without scopes every app would get cron calls.
		"reminder-cron": {"type": "bindings.cron", "schedule": "@every 5m", "scopes": "reminder-service"},
	}
	for name, kv := range want {
		for k, v := range kv {
			if before[name][k] != v {
				t.Errorf("components/: %s %s = %q, want %q", name, k, before[name][k], v)
			}
		}
	}
	// The rendered folder holds every file, Resiliency included.
	for _, f := range []string{"pubsub.yaml", "statestore.yaml", "cron.yaml", "resiliency.yaml", "pubsub-live.yaml"} {
		if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
			t.Errorf("rendered folder lacks %s", f)
		}
	}
}

func TestRenderRefusesUnknownComponent(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "x.yaml"), []byte("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: other\nspec:\n  type: pubsub.kafka\n  metadata: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RenderComponents(src, t.TempDir(), Overrides{BrokerAddress: "x:1"}); err == nil {
		t.Error("override of a missing kafka-pubsub component was silently ignored")
	}
}

// Every broker renders to one set of uniquely named components: the
// broker's pub/sub pair under the names kafka-pubsub and live-pubsub, with
// its address set, and the shared components unchanged. The settings
// without which a broker loses events are part of the contract.
func TestRenderEachBroker(t *testing.T) {
	src := filepath.Join("..", "..", "components")
	shared, err := ComponentMetadata(src)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		broker  Broker
		address string
		main    map[string]string // kafka-pubsub's settings
		live    map[string]string // live-pubsub's settings
	}{
		{Kafka, "127.0.0.1:19092",
			map[string]string{"type": "pubsub.kafka", "brokers": "127.0.0.1:19092", "consumerGroup": "{appID}", "initialOffset": "oldest"},
			map[string]string{"type": "pubsub.kafka", "brokers": "127.0.0.1:19092", "consumerGroup": "{appID}-{uuid}", "initialOffset": "newest"}},
		{Redis, "127.0.0.1:16379",
			map[string]string{"type": "pubsub.redis", "redisHost": "127.0.0.1:16379", "consumerID": "{appID}",
				// longer than a delivery with every retry; milliseconds
				"processingTimeout": "150s", "redeliverInterval": "15000", "maxLenApprox": "1000000"},
			// a group per pod that survives a restart, not one per start
			map[string]string{"type": "pubsub.redis", "redisHost": "127.0.0.1:16379", "consumerID": "{appID}-{podName}"}},
		{RabbitMQ, "amqp://guest:guest@127.0.0.1:5672/v",
			map[string]string{"type": "pubsub.rabbitmq", "connectionString": "amqp://guest:guest@127.0.0.1:5672/v", "consumerID": "{appID}",
				"durable": "true", "deletedWhenUnused": "false", "deliveryMode": "2", "publisherConfirm": "true", "requeueInFailure": "true", "maxLen": "1000000"},
			// the exchange's flags must be kafka-pubsub's
			map[string]string{"type": "pubsub.rabbitmq", "consumerID": "{appID}-{uuid}", "durable": "true", "deletedWhenUnused": "false", "maxLen": "10000"}},
		{MQTT, "tcp://127.0.0.1:11883",
			// every app but web-app, whose replicas would share a client id
			map[string]string{"type": "pubsub.mqtt3", "url": "tcp://127.0.0.1:11883", "consumerID": "{appID}", "qos": "1", "cleanSession": "true",
				"scopes": "todo-api,audit-service,recurring-service,reminder-service,notification-service,event-viewer"},
			map[string]string{"type": "pubsub.mqtt3", "consumerID": "{appID}-{uuid}", "qos": "1", "cleanSession": "true"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.broker), func(t *testing.T) {
			dst := t.TempDir()
			if err := RenderComponents(src, dst, Overrides{Broker: tt.broker, BrokerAddress: tt.address}); err != nil {
				t.Fatal(err)
			}
			got, err := ComponentMetadata(dst)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(shared) {
				t.Errorf("%d components, want %d (names must stay unique)", len(got), len(shared))
			}
			for name, md := range shared {
				if name == "kafka-pubsub" || name == "live-pubsub" {
					continue
				}
				if fmt.Sprint(got[name]) != fmt.Sprint(md) {
					t.Errorf("%s changed: %v, want %v", name, got[name], md)
				}
			}
			for _, c := range []struct {
				name string
				want map[string]string
			}{{"kafka-pubsub", tt.main}, {"live-pubsub", tt.live}} {
				for k, v := range c.want {
					if got[c.name][k] != v {
						t.Errorf("%s %s = %q, want %q", c.name, k, got[c.name][k], v)
					}
				}
				// Topic scopes are the same on every broker.
				for _, k := range []string{"protectedTopics", "publishingScopes", "subscriptionScopes"} {
					if got[c.name][k] != shared[c.name][k] {
						t.Errorf("%s %s = %q, want Kafka's %q", c.name, k, got[c.name][k], shared[c.name][k])
					}
				}
			}
		})
	}
}

func TestParseBroker(t *testing.T) {
	for in, want := range map[string]Broker{"": Kafka, "kafka": Kafka, "redis": Redis, "rabbitmq": RabbitMQ, "mqtt": MQTT} {
		if got, err := ParseBroker(in); err != nil || got != want {
			t.Errorf("ParseBroker(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseBroker("jetstream"); err == nil {
		t.Error("jetstream was accepted")
	}
}
