package apiserver_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/metrics"
	"github.com/bosun-dev/bosun/metrics/metricstest"
)

func TestMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	e := newEnv(t, apiserver.Config{Metrics: reg, MetricsHandler: metrics.Handler(reg)})
	seed(e)
	for _, r := range []struct {
		method, path string
		code         int
	}{
		{"GET", "/apis/apps/v1/namespaces/default/deployments", 200},
		{"GET", "/apis/apps/v1/namespaces/default/deployments", 200},
		{"GET", "/apis/apps/v1/namespaces/default/deployments/web", 200},
		{"GET", "/api/v1/namespaces/default/pods/missing", 404},
		{"GET", "/api/v1/nodes/node-1/status", 200},
	} {
		if code, body := e.do(r.method, r.path, nil); code != r.code {
			t.Fatalf("%s %s: %d, want %d: %s", r.method, r.path, code, r.code, body)
		}
	}
	code, body := e.do("GET", "/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	fams, err := metricstest.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"apiserver_request_total", map[string]string{"verb": "LIST", "group": "apps", "version": "v1", "resource": "deployments", "code": "200"}, 2},
		{"apiserver_request_total", map[string]string{"verb": "GET", "resource": "deployments", "code": "200"}, 1},
		{"apiserver_request_total", map[string]string{"verb": "GET", "resource": "pods", "code": "404"}, 1},
		{"apiserver_request_total", map[string]string{"verb": "GET", "resource": "nodes", "subresource": "status", "code": "200"}, 1},
		{"apiserver_request_duration_seconds", map[string]string{"verb": "LIST", "resource": "deployments"}, 2},
	} {
		if got, _ := metricstest.Value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}
