package hpa

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// calculator is kube-controller-manager's replica calculator for resource
// metrics: it turns the pods' usage into a proposed replica count.
type calculator struct {
	metrics MetricsSource
	// pods lists the pods of a namespace that a selector selects.
	pods func(namespace string, selector labels.Selector) []*corev1.Pod
	now  func() time.Time
	// tolerance is the ratio band around 1.0 in which nothing changes.
	tolerance float64
	// cpuInitPeriod and readinessDelay decide which cpu samples of
	// starting pods are ignored.
	cpuInitPeriod  time.Duration
	readinessDelay time.Duration
}

// utilizationResult is what resourceReplicas computes.
type utilizationResult struct {
	replicas    int32
	utilization int32 // percent of the requests
	rawAverage  int64 // milli-units per pod
	timestamp   time.Time
}

// resourceReplicas proposes a replica count for a Utilization target
// (percent of the pods' requests of resource).
func (c *calculator) resourceReplicas(ctx context.Context, currentReplicas, targetUtilization int32, resource corev1.ResourceName, namespace string, selector labels.Selector) (utilizationResult, error) {
	metrics, timestamp, err := resourceMetric(ctx, c.metrics, resource, namespace, selector)
	if err != nil {
		return utilizationResult{}, fmt.Errorf("unable to get metrics for resource %s: %w", resource, err)
	}
	pods, g, err := c.prepare(metrics, resource, namespace, selector)
	if err != nil {
		return utilizationResult{}, err
	}
	requests, err := podRequests(pods, resource)
	if err != nil {
		return utilizationResult{}, err
	}
	ratio, utilization, raw, err := utilizationRatio(metrics, requests, targetUtilization)
	if err != nil {
		return utilizationResult{}, err
	}
	res := utilizationResult{replicas: currentReplicas, utilization: utilization, rawAverage: raw, timestamp: timestamp}
	if !(len(g.unready) > 0 && ratio > 1.0) && len(g.missing) == 0 {
		if !c.withinTolerance(ratio) {
			res.replicas = int32(math.Ceil(ratio * float64(g.ready)))
		}
		return res, nil
	}
	fallback := int64(max(100, targetUtilization))
	fillGaps(metrics, g, ratio, func(pod string) int64 { return requests[pod] * fallback / 100 })
	newRatio, _, _, err := utilizationRatio(metrics, requests, targetUtilization)
	if err != nil {
		return utilizationResult{}, err
	}
	res.replicas = c.rebalanced(currentReplicas, ratio, newRatio, len(metrics))
	return res, nil
}

// averageValueResult is what rawResourceReplicas computes.
type averageValueResult struct {
	replicas  int32
	average   int64 // milli-units per pod
	timestamp time.Time
}

// rawResourceReplicas proposes a replica count for an AverageValue target
// (milli-units of resource per pod).
func (c *calculator) rawResourceReplicas(ctx context.Context, currentReplicas int32, targetAverage int64, resource corev1.ResourceName, namespace string, selector labels.Selector) (averageValueResult, error) {
	metrics, timestamp, err := resourceMetric(ctx, c.metrics, resource, namespace, selector)
	if err != nil {
		return averageValueResult{}, fmt.Errorf("unable to get metrics for resource %s: %w", resource, err)
	}
	_, g, err := c.prepare(metrics, resource, namespace, selector)
	if err != nil {
		return averageValueResult{}, err
	}
	ratio, average := usageRatio(metrics, targetAverage)
	res := averageValueResult{replicas: currentReplicas, average: average, timestamp: timestamp}
	if !(len(g.unready) > 0 && ratio > 1.0) && len(g.missing) == 0 {
		if !c.withinTolerance(ratio) {
			res.replicas = int32(math.Ceil(ratio * float64(g.ready)))
		}
		return res, nil
	}
	fillGaps(metrics, g, ratio, func(string) int64 { return targetAverage })
	newRatio, _ := usageRatio(metrics, targetAverage)
	res.replicas = c.rebalanced(currentReplicas, ratio, newRatio, len(metrics))
	return res, nil
}

// prepare lists the selected pods, groups them and drops the metrics of the
// ignored and unready ones.
func (c *calculator) prepare(metrics podMetricsInfo, resource corev1.ResourceName, namespace string, selector labels.Selector) ([]*corev1.Pod, podGroups, error) {
	pods := c.pods(namespace, selector)
	if len(pods) == 0 {
		return nil, podGroups{}, errors.New("no pods returned by selector while calculating replica count")
	}
	g := c.group(pods, metrics, resource)
	for name := range g.ignored {
		delete(metrics, name)
	}
	for name := range g.unready {
		delete(metrics, name)
	}
	if len(metrics) == 0 {
		return nil, podGroups{}, errors.New("did not receive metrics for targeted pods (pods might be unready)")
	}
	return pods, g, nil
}

// fillGaps gives the pods without metrics a conservative value, as
// Kubernetes does: on a scale-down missing pods use fallback(pod), on a
// scale-up nothing; unready pods use nothing when the ratio is above 1.
func fillGaps(metrics podMetricsInfo, g podGroups, ratio float64, fallback func(pod string) int64) {
	for name := range g.missing {
		switch {
		case ratio < 1.0:
			metrics[name] = podMetric{value: fallback(name)}
		case ratio > 1.0:
			metrics[name] = podMetric{value: 0}
		}
	}
	if len(g.unready) > 0 && ratio > 1.0 {
		for name := range g.unready {
			metrics[name] = podMetric{value: 0}
		}
	}
}

// rebalanced is the proposal once missing and unready pods were filled in:
// no change within the tolerance or when filling in reversed the direction.
func (c *calculator) rebalanced(currentReplicas int32, ratio, newRatio float64, pods int) int32 {
	if c.withinTolerance(newRatio) || ratio < 1.0 && newRatio > 1.0 || ratio > 1.0 && newRatio < 1.0 {
		return currentReplicas
	}
	n := int32(math.Ceil(newRatio * float64(pods)))
	if newRatio < 1.0 && n > currentReplicas || newRatio > 1.0 && n < currentReplicas {
		return currentReplicas
	}
	return n
}

// withinTolerance reports whether ratio is close enough to 1 to change nothing.
func (c *calculator) withinTolerance(ratio float64) bool {
	return math.Abs(1.0-ratio) <= c.tolerance
}

// podGroups sorts the selected pods as Kubernetes' groupPods does.
type podGroups struct {
	ready   int
	unready map[string]bool
	missing map[string]bool
	ignored map[string]bool
}

// group sorts pods: deleted and failed ones are ignored, Pending ones are
// unready, pods without a metric are missing; for cpu, a pod is unready when
// its sample may come from its start-up (within the initialization period:
// not ready, or ready for less than one metric window) or when it has
// never been ready yet.
func (c *calculator) group(pods []*corev1.Pod, metrics podMetricsInfo, resource corev1.ResourceName) podGroups {
	g := podGroups{unready: map[string]bool{}, missing: map[string]bool{}, ignored: map[string]bool{}}
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodFailed {
			g.ignored[p.Name] = true
			continue
		}
		if p.Status.Phase == corev1.PodPending {
			g.unready[p.Name] = true
			continue
		}
		m, ok := metrics[p.Name]
		if !ok {
			g.missing[p.Name] = true
			continue
		}
		if resource == corev1.ResourceCPU && c.cpuUnready(p, m) {
			g.unready[p.Name] = true
			continue
		}
		g.ready++
	}
	return g
}

// cpuUnready reports whether pod p's cpu sample m is to be left out.
func (c *calculator) cpuUnready(p *corev1.Pod, m podMetric) bool {
	cond := readyCondition(p)
	if cond == nil || p.Status.StartTime == nil {
		return true
	}
	start := p.Status.StartTime.Time
	if start.Add(c.cpuInitPeriod).After(c.now()) {
		return cond.Status == corev1.ConditionFalse || m.timestamp.Before(cond.LastTransitionTime.Add(m.window))
	}
	return cond.Status == corev1.ConditionFalse && start.Add(c.readinessDelay).After(cond.LastTransitionTime.Time)
}

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// podRequests is each pod's request of resource in milli-units, the sum of
// its containers'; a container without a request is an error.
func podRequests(pods []*corev1.Pod, resource corev1.ResourceName) (map[string]int64, error) {
	out := make(map[string]int64, len(pods))
	for _, p := range pods {
		var sum int64
		for _, ctr := range p.Spec.Containers {
			q, ok := ctr.Resources.Requests[resource]
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of Pod %s", resource, ctr.Name, p.Name)
			}
			sum += q.MilliValue()
		}
		out[p.Name] = sum
	}
	return out, nil
}

// utilizationRatio is the pods' usage over their requests, over the target:
// the ratio, the utilization in percent and the average usage.
func utilizationRatio(metrics podMetricsInfo, requests map[string]int64, target int32) (float64, int32, int64, error) {
	var usage, requested int64
	n := 0
	for name, m := range metrics {
		r, ok := requests[name]
		if !ok {
			continue
		}
		usage += m.value
		requested += r
		n++
	}
	if requested == 0 {
		return 0, 0, 0, errors.New("no metrics returned matched known pods")
	}
	utilization := int32(usage * 100 / requested)
	return float64(utilization) / float64(target), utilization, usage / int64(n), nil
}

// usageRatio is the pods' average usage over target, and that average.
func usageRatio(metrics podMetricsInfo, target int64) (float64, int64) {
	var total int64
	for _, m := range metrics {
		total += m.value
	}
	average := total / int64(len(metrics))
	return float64(average) / float64(target), average
}
