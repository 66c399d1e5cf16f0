package hpa

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// MetricsSource reads the resource metrics API (metrics.k8s.io/v1beta1), as
// kube-controller-manager's HPA reads it from metrics-server.
type MetricsSource interface {
	// PodMetrics returns the PodMetrics of the pods of namespace that selector
	// selects, as GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods with a
	// labelSelector answers: a pod without metrics is left out. It blocks until
	// the metrics are gathered or ctx ends; the error says why none could be
	// read at all. It is called by several workers at once.
	PodMetrics(ctx context.Context, namespace string, selector labels.Selector) ([]metricsv1beta1.PodMetrics, error)
}

// MetricsFunc adapts a function to the MetricsSource interface.
type MetricsFunc func(ctx context.Context, namespace string, selector labels.Selector) ([]metricsv1beta1.PodMetrics, error)

// PodMetrics calls f(ctx, namespace, selector).
func (f MetricsFunc) PodMetrics(ctx context.Context, namespace string, selector labels.Selector) ([]metricsv1beta1.PodMetrics, error) {
	return f(ctx, namespace, selector)
}

// podMetric is one pod's usage of one resource: milli-units (millicores,
// milli-bytes), as Kubernetes' metrics client reports them.
type podMetric struct {
	timestamp time.Time
	window    time.Duration
	value     int64
}

// podMetricsInfo is the usage of each pod, by pod name.
type podMetricsInfo map[string]podMetric

// errNoMetrics is the metrics client's error when the API returned nothing.
var errNoMetrics = errors.New("no metrics returned from resource metrics API")

// resourceMetric reads the usage of resource of the pods that selector
// selects, as Kubernetes' resource metrics client does: a pod counts when
// every container reports the resource, its value being the containers' sum;
// the timestamp is the first item's.
func resourceMetric(ctx context.Context, src MetricsSource, resource corev1.ResourceName, namespace string, selector labels.Selector) (podMetricsInfo, time.Time, error) {
	items, err := src.PodMetrics(ctx, namespace, selector)
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(items) == 0 {
		return nil, time.Time{}, errNoMetrics
	}
	out := podMetricsInfo{}
	for _, m := range items {
		var sum int64
		missing := len(m.Containers) == 0
		for _, c := range m.Containers {
			q, ok := c.Usage[resource]
			if !ok {
				missing = true
				break
			}
			sum += q.MilliValue()
		}
		if !missing {
			out[m.Name] = podMetric{timestamp: m.Timestamp.Time, window: m.Window.Duration, value: sum}
		}
	}
	return out, items[0].Timestamp.Time, nil
}
