// Package model holds a randomized model test of the tailer, run on the real
// agent binary: a seeded generator of what a node does to container log files
// and to the agent (writes, kubelet rotation and compression, restarts and
// crashes), an oracle of which lines were on disk while an agent could read
// them, and the checks made after each sequence. See README.md.
package model
