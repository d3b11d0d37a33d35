// Package archtest checks rules about the repository's structure that the
// compiler cannot: which binaries may link what.
package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kafkaPackages are Kafka clients and brokers. The spec forbids them in the
// services: everything goes through the Dapr sidecar.
var kafkaPackages = []string{
	"github.com/IBM/sarama",
	"github.com/Shopify/sarama",
	"github.com/twmb/franz-go",
	"github.com/segmentio/kafka-go",
	"github.com/confluentinc/confluent-kafka-go",
}

// devOnly are the commands allowed to link a broker: the dev broker itself.
var devOnly = map[string]bool{"devbroker": true}

func TestServicesLinkNoKafkaClient(t *testing.T) {
	root := filepath.Join("..", "..")
	dirs, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		name := d.Name()
		cmd := exec.Command("go", "list", "-deps", "./cmd/"+name)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps ./cmd/%s: %v", name, err)
		}
		var hits []string
		for _, pkg := range strings.Fields(string(out)) {
			for _, k := range kafkaPackages {
				if pkg == k || strings.HasPrefix(pkg, k+"/") {
					hits = append(hits, pkg)
				}
			}
		}
		switch {
		case devOnly[name] && len(hits) == 0:
			t.Errorf("cmd/%s is expected to link the dev broker; this check may be broken", name)
		case !devOnly[name] && len(hits) > 0:
			t.Errorf("cmd/%s links Kafka code %v; services must reach the broker only through Dapr", name, hits)
		}
		checked++
	}
	if checked < 2 {
		t.Fatalf("checked only %d commands", checked)
	}
}
