// Package brokersuite is the pub/sub suite that every broker must pass: our
// own expectations of the pub/sub layer (at-least-once delivery, fan-out per
// app and per web-app replica, routing rules, bulk publish, bounded retries
// then the dead-letter topic, redelivery after a sidecar or an app is
// killed, a broker restart, unknown event types, ordering where the broker
// claims it), run through the real daprd against each broker's components
// (components/ for Kafka, components/brokers/<name>/ for the others). It
// is the pattern of watermill's universal pub/sub tests: one suite, every
// configuration.
//
// The suite is in suite_test.go; BROKERS=redis,mqtt runs it on some
// brokers only.
package brokersuite
