// Package hostile holds attacks on the built ferry binary: what a node,
// kubelet, a broker, a config and a clock can do to the agent. Each test runs
// the real binary (internal/e2eharness) against an in-process Kafka-protocol
// broker and checks the documented guarantees: zero loss, bounded
// duplicates, counters that balance, a process that stays responsive and
// exits on SIGTERM.
//
// Quick attacks run in every `go test`; those that expose a known bug or
// take long run only with FERRY_HOSTILE=1:
//
//	FERRY_HOSTILE=1 go test ./test/hostile/ -v
package hostile
