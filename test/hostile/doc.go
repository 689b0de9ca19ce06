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
//	go test ./test/hostile/ -v                  # the quick ones (about a minute)
//	FERRY_HOSTILE=1 go test ./test/hostile/ -v  # all of them (about two minutes)
//
// Each of these failed when it was written, and runs in every `go test`
// since the fix: TestSymlinkOutsideRoot (a 0.log symlink to a file outside
// the log root was shipped), TestCopyTruncateWhileStopped (copytruncate while
// the agent was stopped made the next agent read the copy again and count a
// lost file), TestTimestampsAtTheEdges (zone offsets that put the UTC time
// outside years 0000-9999 gave a "time" that is not RFC 3339), TestSIGHUP
// (SIGHUP ended the agent with no flush), TestGzipDuringStartup (a rotated
// file gzipped while the agent started was skipped, its lines lost with no
// counter moved; a race, seen once in about 45 runs) and
// TestOnePartitionRefuses (a partition refusing Produce stalled the pods of
// the healthy ones; pkg/ship now holds and sends per destination).
//
// The attack on processing (process2_*_test.go) found twelve, each fixed
// and guarded since: secrets shipped in clear (TestHostileRedactEscapedInMessage,
// TestHostileRedactSecretInKey, TestHostileRedactEscapedInNestedField,
// TestHostileRedactKeyedSecretInFields, TestHostileRedactCompoundKeyNames),
// a JSON line of many keys costing CPU quadratic in them
// (TestHostileJSONManyKeys), a parsed record dropped as too large where the
// line alone was sent (TestHostileJSONParserDoublesRecord), a multiline cap
// over the sink's record limit (TestHostileMultilineMaxBytesOverMessage), a
// trace lost when its file was truncated or deleted while it was held
// (TestHostileMultilineSourceEndsMidGroup), held lines keeping the tailer's
// read chunks outside the memory budget (TestHostileHeldLinePinsChunk), and
// rate-limit summaries grouped into the container's records
// (TestHostileRateLimitSummaryMerged, TestHostileRateLimitSummariesOfTwoPods).
// The attacks that held are kept beside them (TestMultiline*, TestJSONHostileLines,
// TestRedactReplacementIsLiteral, TestFilterDropsEverything).
//
// A second attack on those fixes (attack3_*_test.go, TestAttack*) found ten
// more, fixed and guarded the same way: JSON flags and counts after a
// secret's key name masked with the closing brace, masked keys colliding,
// objects under a secret's key name masked, passphrases masked in part in
// the original line, plain-text escapes rewritten, fields omitted for a
// key that is not sent, rate-limit summaries of filtered or excluded pods
// shipped, a start-up scan on a slow disk failing /healthz
// (TestAttackStartupScanSlowDiskHealthz: a minute under strace, with
// FERRY_HOSTILE=1), and multiline.max_bytes at the sink's record limit.
//
// An attack on the drain at shutdown and the holdback (attack5_*_test.go,
// pkg/ship's hostile5_*_test.go) found five, fixed and guarded: a broker
// gone was taken for a topic that does not exist (kafka-go fails a
// request it cannot route by metadata it could not fetch with "topic not
// found"), so the drain gave up on it after 2 s instead of retrying until
// shutdown_timeout (TestAttack5BrokerGoneAtShutdown) and a templated
// topic's records went to the fallback topic; a topic created in the
// drain's last second before its patience ran out was given up on,
// judged by metadata a second old; and metric records held for a
// missing metrics topic counted against the log budget, holding back
// log files; with a topic template, a missing metrics topic was taken for
// a templated one and warned twice per backoff_min forever.
// TestAttack5DrainGivesUpThenRestartDelivers holds: lines of
// a refused partition left at SIGTERM are delivered by the next agent.
//
// Tests named TestHostile* that skip with "known: ..." reproduce a bug that
// is still open: each failed on the code it was written against, and the
// skip message says in one line what goes wrong. Remove the skip with the
// fix; the test then guards it like the ones above. To see one fail, delete
// its t.Skip line and run it alone, e.g.
//
//	go test ./test/hostile/ -run TestHostileWriteAfterRename -count=1 -v
//
// /metrics is cached for a second, so a balance check may read an old
// scrape: the tests wait for balance with a lower bound on the lines read
// (world.settled).
package hostile
