package devstack

import (
	"strings"
	"testing"
)

// A broker that keeps its data in memory is never restarted: it would come
// back empty, and a test would count the events it dropped as lost by the
// system.
func TestRestartBrokerRefusesABrokerInMemory(t *testing.T) {
	s := &System{BrokerKind: Redis, Broker: &Process{}}
	err := s.RestartBroker(t.Context())
	if err == nil || !strings.Contains(err.Error(), "in memory") {
		t.Fatalf("RestartBroker = %v, want the refusal of a broker in memory", err)
	}
}
