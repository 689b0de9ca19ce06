// Package e2e is ferry's chaos suite: each test runs the built ferry binary
// as a process against a Kafka-protocol broker (kfake) and real files
// written the way kubelet and containerd write them (internal/simnode),
// breaks something (the agent, the broker, the input, the state
// directory), and checks with an independent consumer that no line was lost,
// that duplicates stay within the scenario's stated bound, and that the
// agent's /metrics counters account for every line. See README.md.
package e2e
