// Package process is the stage between enrichment and the sink that users
// configure every day: multiline grouping of stack traces, parsing of
// structured messages (json, logfmt, a regular expression), severity
// normalisation, filters and redaction, per cluster and, where the config
// allows it, per pod by annotation. It imports only pkg/event (and the
// metrics library). Like every package under pkg/, it carries no API
// stability promise before v1.
//
// # Cost
//
// A Config that configures nothing (DefaultConfig) makes Process return
// its batch untouched without allocating, and the agent leaves the stage
// out of the pipeline altogether. The cost of each step, measured by
// BenchmarkProcess, is in the README's Processing section.
//
// # Order of the steps
//
// For each line: exclusion by annotation, then multiline grouping (per file
// and stream, so after the tailer merged CRI and Docker partial lines), and
// for each record that comes out: parsing, level, filters, redaction.
// Records the agent writes itself (event.Log.Notice: a rate limit's summary
// of the lines it dropped) are excluded and filtered like their
// container's records, and otherwise pass through untouched, as records of
// their own.
//
// # Guarantees
//
//   - At least once. A record made of several lines carries the cursor of
//     its last line; the cursors of the other lines are kept here and handed
//     to the Acker together with it, when the sink acknowledges the record
//     (the Processor is the sink's Acker). Until then none of the group's
//     lines is committed by the tailer, so a restart in the middle of a group
//     reads the group again whole. Held lines are not acknowledged either: a
//     hard stop leaves them to be read again.
//   - Nothing lost silently. A dropped record is acknowledged at once and
//     counted by rule (ferry_process_dropped_total{rule}); a message that
//     does not parse is shipped as it is and counted
//     (ferry_process_parse_failures_total{parser}). Lines read by the tailer
//     equal the records sent, plus the records dropped here or by the sink,
//     plus ferry_process_multiline_merged_lines_total.
//   - Bounded. A group holds at most multiline.max_lines lines and
//     multiline.max_bytes bytes; the line that would exceed a cap begins the
//     next record, and the cut record is flagged truncated and counted
//     (ferry_process_multiline_cut_total{reason}). A group is sent when its
//     next line does not continue it, or flush_timeout after its last line,
//     or when its file ends (the tailer's event.Log.End marker: truncated,
//     read to its end after rotation, closed; no line can continue it and
//     the tailer moves on), or when the input closes (shutdown). No input
//     makes a group unbounded
//     (FuzzGroup).
//   - Order. Records of one file and stream keep their order. A group held
//     for one stream does not hold back the other stream or other files, so
//     records of one file's two streams can come out in another order than
//     they were written. When a pod update stops grouping a container (an
//     annotation set to none), the group it held goes out at its timeout,
//     after the lines that followed it.
//   - Bodies. A line's Body is never modified (it belongs to the tailer):
//     grouping and masking build new ones.
//
// # Records
//
// Processing adds three keys to a shipped log record, each only when set:
// "level" (trace, debug, info, warn, error or fatal), "fields" (an object
// of the parsed fields, in the order found) and "lines" (how many lines a
// multiline record holds). "truncated" is also true for a record cut at a
// multiline cap. Without keep_original, "message" is the parsed message
// field (and it leaves "fields").
//
// # Annotations
//
// Honoured only as annotations.* allows: <prefix>/multiline and
// <prefix>/multiline-<container> (a rule name, or none), <prefix>/parser and
// <prefix>/parser-<container> (json, logfmt, regex, or none),
// <prefix>/exclude-stdout and <prefix>/exclude-stderr ("true"). The
// container's key wins over the pod's. Whole pods and containers are
// excluded earlier, by enrichment (kubernetes.exclude_annotation).
//
// # Metrics
//
// ferry_process_parsed_total{parser}, ferry_process_parse_failures_total{parser},
// ferry_process_multiline_records_total, ferry_process_multiline_merged_lines_total,
// ferry_process_multiline_cut_total{reason}, ferry_process_multiline_timeout_flushes_total,
// ferry_process_multiline_end_flushes_total,
// ferry_process_multiline_held_lines, ferry_process_unacked_grouped_records,
// ferry_process_dropped_total{rule}, ferry_process_redactions_total{rule},
// ferry_process_annotation_errors_total. Rule labels are the configured
// names (bounded by the config).
package process
