package apiserver

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bosun-dev/bosun/metrics"
)

// requestMetrics are kube-apiserver's request metrics.
type requestMetrics struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newRequestMetrics(reg prometheus.Registerer) *requestMetrics {
	m := &requestMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "apiserver_request_total",
			Help: "Counter of API requests by verb, group, version, resource, subresource and HTTP response code."},
			[]string{"verb", "group", "version", "resource", "subresource", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "apiserver_request_duration_seconds",
			Help:    "Response latency distribution in seconds by verb, group, version, resource and subresource (watches are not timed).",
			Buckets: metrics.FastBuckets},
			[]string{"verb", "group", "version", "resource", "subresource"}),
	}
	reg.MustRegister(m.total, m.duration)
	return m
}

// observe counts a finished request, with what authentication parsed of
// it (parsed here for requests refused before).
func (m *requestMetrics) observe(req *http.Request, rec *statusRecorder, d time.Duration) {
	if m == nil {
		return
	}
	code := rec.code
	if code == 0 {
		code = http.StatusOK // nothing written: net/http answers 200
	}
	var ri requestInfo
	if rec.info != nil {
		ri = *rec.info
	} else {
		ri = parseRequestInfo(req)
	}
	verb := metricVerb(req, ri)
	version := ""
	if ri.resourceRequest {
		version = apiVersionOf(ri.path)
	}
	m.total.WithLabelValues(verb, ri.group, version, ri.resource, ri.subresource, strconv.Itoa(code)).Inc()
	if verb != "WATCH" && verb != "CONNECT" {
		m.duration.WithLabelValues(verb, ri.group, version, ri.resource, ri.subresource).Observe(d.Seconds())
	}
}

// metricVerb names the verb as kube-apiserver's metrics do: LIST and
// WATCH apart from GET, POST, PUT, PATCH, DELETE, and CONNECT for log,
// exec and the like.
func metricVerb(req *http.Request, ri requestInfo) string {
	switch ri.verb {
	case "list":
		return "LIST"
	case "watch":
		return "WATCH"
	}
	switch ri.subresource {
	case "log", "exec", "attach", "portforward", "proxy":
		return "CONNECT"
	}
	if req.Method == http.MethodHead {
		return "GET"
	}
	return req.Method
}

// apiVersionOf returns the version of a resource path: "v1" of
// /api/v1/..., "v1" of /apis/apps/v1/....
func apiVersionOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		return parts[1]
	case len(parts) >= 3 && parts[0] == "apis":
		return parts[2]
	}
	return ""
}
