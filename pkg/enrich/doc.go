// Package enrich adds Kubernetes metadata to log lines: who wrote each line (namespace, pod,
// uid, container, container id, image, node, labels, selected annotations, owning workload, and
// optionally the namespace's labels).
//
// # Where the metadata comes from
//
// One pod informer per node lists and watches only the pods bound to this node (field selector
// spec.nodeName=<node>), through a transform that keeps only the fields read here (managedFields
// and everything else are dropped before they reach the cache). Lines are enriched from the
// informer's indexer only: nothing per line ever calls the API server. The owning Deployment and
// CronJob are derived from the ReplicaSet's and Job's names (pod-template-hash suffix, scheduled
// time suffix), so no ReplicaSet or Job informer runs. With namespace_labels on, one more
// informer watches namespaces (name and labels only).
//
// The informers list and watch through a Client. The agent's own (Options.Client nil) is a REST
// client of the core/v1 API alone, built from the kubeconfig or the in-cluster service account,
// asking for protobuf; client-go's reflector fills the caches with a streaming list (a watch
// with sendInitialEvents) where the API server serves one. client-go's typed clientset and
// informer factory are not used: they register the types of every API group, which more than
// doubles the binary's size and the part of it resident in memory.
//
// A line's pod is found by the uid in its path (/var/log/pods/<ns>_<pod>_<uid>/<container>/
// <n>.log, see ParsePath). Static pods log under their config hash, which their mirror pod
// carries in the kubernetes.io/config.mirror annotation; the cache is indexed by it too, and
// such lines carry that hash as PodUID.
//
// # Guarantees
//
//   - Every line that comes in goes out (or, on the hard stop, is abandoned with Out closed):
//     none is dropped or duplicated, and the lines of one file keep their order. Batches can be
//     split: lines of a file waiting for its pod go out later in a batch of their own.
//   - Never blocking for long: Run waits at most sync_timeout for the first sync. A file whose pod
//     is not in the cache waits at most miss_wait, once in its life, while every other file keeps
//     flowing; its lines then go out with the metadata the path gives and are counted in
//     ferry_enrich_misses_total{reason="not_in_cache"}. Lines whose path does not parse get only
//     the node name and count as reason="unparsable_path". Parked lines are bounded by
//     max_parked_lines. When the API server is unreachable, the cache keeps serving what it
//     has, client-go reconnects, and failed requests show in
//     ferry_enrich_api_request_errors_total.
//   - A Meta is built once per pod version and container and shared by all its lines; it is
//     never modified once published. A pod update builds new Metas for later lines.
//   - A deleted pod's metadata stays until delete_grace has passed since both its deletion and
//     the last line seen from its files; at most max_deleted_pods are kept (oldest deletion
//     forgotten first). The live cache holds only this node's pods.
//   - Exclusion: Excluded(path) says whether the tailer should skip a file, by the pod
//     annotation exclude_annotation: "true" (the whole pod) or <exclude_annotation>-containers:
//     "a,b". Each excluded file is counted once in ferry_enrich_excluded_files_total. A file
//     whose pod is not in the cache when asked is not excluded. Routing never depends on
//     annotations.
//
// Metrics: ferry_enrich_cache_pods{state}, ferry_enrich_cache_synced,
// ferry_enrich_parked_lines, ferry_enrich_misses_total{reason},
// ferry_enrich_excluded_files_total,
// ferry_enrich_api_requests_total{resource,verb},
// ferry_enrich_api_request_errors_total{resource,verb},
// ferry_enrich_watch_errors_total{resource} (client-go's watch error
// handler), ferry_enrich_watch_restarts_total{resource}.
//
// Like every package under pkg/, enrich has no API stability promise before v1.
package enrich
