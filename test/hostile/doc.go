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
// A fourth attack, on rate limits (attack4_*_test.go here, and
// hostile4_*_test.go in pkg/tail and cmd/agent, most under
// testing/synctest), found eleven, each fixed and guarded: a drop summary
// at every rotation rather than per summary_interval, and a defer episode
// warned about again at every rotated file (or a restarted container's
// old file) read to its end while the new one was behind
// (TestAttack4DropRotatingKubeletStyle, TestAttack4DeferRotatingWarnsOnce);
// idle limiters and pod aggregates of short-lived pods never forgotten
// while a noisy neighbour kept the namespace's drop limit spent (and idle
// containers taking a part of an aggregate's budget); an episode stuck for
// good when the limit changed from defer to drop, or when a parked
// deferred file vanished; a line longer than burst_bytes always dropped;
// CRI partial fragments counted as one line under drop; a huge invalid
// annotation kept and logged whole; an annotated rate of 1e-12 lines/s
// making the tailer's loop spin (TestHostile4TinyRateSpins); a new burst
// at every change of limit (an annotation rewritten back and forth
// shipped twice its rate); and a quiet
// live pod's annotation forgotten after an hour. Two tests guard the fixes themselves: a
// limiter is kept across the gap between a rotated file's close and its
// new file's first read, and a deleted pod's last summary is not held
// back past enrichment's delete_grace. Drops not yet summarised when the
// agent stopped or reloaded were never summarised, though later
// acknowledgements committed past them: the tailer's Run now summarises
// them as it ends and offers what it holds to the next room for up to 2 s
// (TestHostile4DropsSummarisedBeforeShutdown).
// TestAttack4ReloadRemovesLimitWhileDeferred and
// TestAttack4NamespaceChurnDrop held.
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
// An attack on the pipeline's one wiring, the JSON parser's field slab
// and the new host metrics (internal/pipeline, cmd/agent, pkg/process and
// pkg/hostmetrics hostile6_*_test.go) found six, fixed and guarded: a
// component failing during the graceful drain left the others to wait
// out shutdown_timeout for a sink that would not confirm; the field slab
// kept the messages of a thousand records long gone alive (18 MiB for 256
// lines of 64 KiB) outside the in-flight budget; api_key redaction
// panicked on a key inside a secret's value (token=token=00000), one line
// crashing the agent at every restart (FuzzRedact); SELinux was reported
// disabled on every SELinux host, init's context being unreadable from a
// pod without capabilities; PSI disabled (EOPNOTSUPP) was warned about as
// a failure where node_exporter has no data; and a failure after a spell
// of no data was not warned about again. Held: records parsed into the
// slab against encoding/json, a listener failing or a context ended before
// the agent ran, /healthz through a long drain, selinux's flips and
// symlinked roots, kernel_hung's odd contents.
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
