package enrich

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Miss reasons, the values of the reason label of ferry_enrich_misses_total.
const (
	reasonNotInCache = "not_in_cache"    // the pod was not in the cache when the file's wait ended
	reasonBadPath    = "unparsable_path" // the path is not a kubelet pod log path
)

type metrics struct {
	misses        *prometheus.CounterVec
	excludedFiles prometheus.Counter
	synced        prometheus.Gauge
	parkedLines   prometheus.Gauge
	watchErrors   *prometheus.CounterVec
	watchRestarts *prometheus.CounterVec
	apiRequests   *prometheus.CounterVec
	apiErrors     *prometheus.CounterVec
	livePods      prometheus.GaugeFunc
	deletedPods   prometheus.GaugeFunc

	// watches counts Watch calls per resource; every one after the first is a restart.
	podWatches, nsWatches atomic.Int64
}

func newMetrics(e *Enricher) *metrics {
	m := &metrics{
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_enrich_misses_total",
			Help: "Log lines shipped with only the metadata their path gives, by reason.",
		}, []string{"reason"}),
		excludedFiles: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ferry_enrich_excluded_files_total",
			Help: "Log files not read because their pod or container is excluded by annotation.",
		}),
		synced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_enrich_cache_synced",
			Help: "1 once the pod cache completed its initial sync, else 0.",
		}),
		parkedLines: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ferry_enrich_parked_lines",
			Help: "Log lines held back while their file waits for its pod to reach the cache.",
		}),
		watchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_enrich_watch_errors_total",
			Help: "Failures client-go's reflector reported to its watch error handler (it lists and watches again with backoff), by resource.",
		}, []string{"resource"}),
		watchRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_enrich_watch_restarts_total",
			Help: "Watches the informers opened again after the first (after an error or a server-side timeout), by resource.",
		}, []string{"resource"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_enrich_api_requests_total",
			Help: "List and watch requests sent to the API server, by resource and verb.",
		}, []string{"resource", "verb"}),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ferry_enrich_api_request_errors_total",
			Help: "List and watch requests that failed (API server unreachable, forbidden, ...), by resource and verb.",
		}, []string{"resource", "verb"}),
	}
	m.livePods = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "ferry_enrich_cache_pods",
		Help:        "Pods in the metadata cache: live ones of this node, and deleted ones kept for their last lines.",
		ConstLabels: prometheus.Labels{"state": "live"},
	}, func() float64 { return float64(e.livePodCount()) })
	m.deletedPods = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "ferry_enrich_cache_pods",
		Help:        "Pods in the metadata cache: live ones of this node, and deleted ones kept for their last lines.",
		ConstLabels: prometheus.Labels{"state": "deleted"},
	}, func() float64 { return float64(e.deletedPodCount()) })
	for _, r := range []string{reasonNotInCache, reasonBadPath} {
		m.misses.WithLabelValues(r)
	}
	for _, r := range []string{"pods", "namespaces"} {
		m.watchErrors.WithLabelValues(r)
		m.watchRestarts.WithLabelValues(r)
		m.apiRequests.WithLabelValues(r, "list")
		m.apiRequests.WithLabelValues(r, "watch")
		m.apiErrors.WithLabelValues(r, "list")
		m.apiErrors.WithLabelValues(r, "watch")
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.misses, m.excludedFiles, m.synced, m.parkedLines,
		m.watchErrors, m.watchRestarts, m.apiRequests, m.apiErrors, m.livePods, m.deletedPods} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
