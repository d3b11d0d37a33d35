// Command devbroker is a Kafka-protocol broker for local runs and tests only
// (github.com/twmb/franz-go/pkg/kfake), standing in for Redpanda. It is the
// only program of this repository that links Kafka code; the services reach
// the broker through Dapr alone.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devbroker:", err)
		os.Exit(1)
	}
}

func run() error {
	port := flag.Int("port", 9092, "port to listen on (127.0.0.1 only)")
	// 48: a consumer's sidecar handles one message per partition at a time,
	// so partitions are how far a slow consumer (recurring-service, which
	// calls todo-api for each completion) runs in parallel. With 12 it
	// backed up at 100 completions/s on 2 cores (docs/benchmarks.md).
	partitions := flag.Int("partitions", 48, "partitions of each auto-created topic (one task's events always share one)")
	dataDir := flag.String("data-dir", "", "keep the log in this folder across restarts (empty: memory only)")
	// reminders keeps 12: notification-service updates one inbox per user
	// (an ETag-checked state item), so more deliveries at once only make
	// them conflict; with 48 an e2e burst of 500 to one user stalled.
	reminderPartitions := flag.Int("reminder-partitions", 12, "partitions of the reminders topic")
	topics := flag.String("topics", "task-events", "comma-separated topics to create at start with -partitions")
	verbose := flag.Bool("v", false, "log broker requests")
	flag.Parse()

	opts := []kfake.Opt{
		kfake.Ports(*port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(*partitions),
		kfake.ClusterID("todo-dev"),
	}
	if t := strings.TrimSpace(*topics); t != "" {
		opts = append(opts, kfake.SeedTopics(int32(*partitions), strings.Split(t, ",")...))
	}
	opts = append(opts, kfake.SeedTopics(int32(*reminderPartitions), "reminders"))
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
	}
	if *verbose {
		opts = append(opts, kfake.WithLogger(kfake.BasicLogger(os.Stderr, kfake.LogLevelInfo)))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("start broker on 127.0.0.1:%d: %w", *port, err)
	}
	defer c.Close()
	fmt.Printf("devbroker ready on %s (partitions per topic: %d, data dir: %q)\n",
		strings.Join(c.ListenAddrs(), ","), *partitions, *dataDir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Println("devbroker stopping")
	return nil
}
