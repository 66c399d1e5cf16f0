package hpa

import (
	"context"
	"errors"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// metricFailure is why one metric gave no proposal: the condition to set when
// no metric gave one.
type metricFailure struct {
	reason, message string
	err             error
}

// computeReplicasForMetrics proposes the largest replica count of hpa's
// metrics and returns the name of the metric that proposed it and the
// metrics' status. ok is false when no count could be computed (every
// metric failed, or some failed and the others would scale down): the
// ScalingActive condition and an Event say why.
func (c *Controller) computeReplicasForMetrics(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, t scaleTarget) (int32, string, []autoscalingv2.MetricStatus, bool) {
	now := c.clock.Now()
	specs := hpa.Spec.Metrics
	if len(specs) == 0 {
		specs = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](defaultTargetCPUUtilization)},
		}}}
	}
	if t.selector == nil {
		msg := "selector is required"
		c.warn(hpa, ReasonSelectorRequired, msg)
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, ReasonInvalidSelector,
			"the HPA target's scale is missing a selector", now)
		return 0, "", nil, false
	}
	statuses := make([]autoscalingv2.MetricStatus, len(specs))
	var replicas int32
	var name string
	invalid := 0
	var first metricFailure
	for i, spec := range specs {
		proposal, metricName, fail := c.computeReplicasForMetric(ctx, hpa, spec, t, &statuses[i])
		if fail != nil {
			if invalid == 0 {
				first = *fail
			}
			invalid++
			continue
		}
		if replicas == 0 || proposal > replicas {
			replicas, name = proposal, metricName
		}
	}
	if invalid >= len(specs) || invalid > 0 && replicas < t.replicas {
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, first.reason, first.message, now)
		c.warn(hpa, ReasonFailedComputeMetricsReplicas,
			fmt.Sprintf("invalid metrics (%d invalid out of %d), first error is: %v", invalid, len(specs), first.err))
		return 0, "", statuses, false
	}
	setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, ReasonValidMetricFound,
		fmt.Sprintf("the HPA was able to successfully calculate a replica count from %s", name), now)
	return replicas, name, statuses, true
}

// computeReplicasForMetric proposes a count for one metric and fills its
// status; a non-nil failure says why it could not.
func (c *Controller) computeReplicasForMetric(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, spec autoscalingv2.MetricSpec, t scaleTarget, status *autoscalingv2.MetricStatus) (int32, string, *metricFailure) {
	if spec.Type != autoscalingv2.ResourceMetricSourceType || spec.Resource == nil {
		err := fmt.Errorf("unsupported metric source type %q: bosun's HPA supports Resource metrics (cpu, memory)", spec.Type)
		c.warn(hpa, ReasonInvalidMetricSourceType, err.Error())
		return 0, "", &metricFailure{reason: ReasonInvalidMetricSourceType,
			message: fmt.Sprintf("the HPA was unable to compute the replica count: %v", err), err: err}
	}
	proposal, name, err := c.resourceProposal(ctx, hpa.Namespace, spec.Resource, t, status)
	if err != nil {
		c.warn(hpa, ReasonFailedGetResourceMetric, err.Error())
		return 0, "", &metricFailure{reason: ReasonFailedGetResourceMetric,
			message: fmt.Sprintf("the HPA was unable to compute the replica count: %v", err), err: err}
	}
	return proposal, name, nil
}

// resourceProposal is Kubernetes' computeStatusForResourceMetricGeneric: a
// Resource metric with an AverageValue or an AverageUtilization target.
func (c *Controller) resourceProposal(ctx context.Context, namespace string, src *autoscalingv2.ResourceMetricSource, t scaleTarget, status *autoscalingv2.MetricStatus) (int32, string, error) {
	if src.Target.AverageValue != nil {
		target := src.Target.AverageValue.MilliValue()
		if target <= 0 {
			return 0, "", fmt.Errorf("invalid resource metric source: the average value target of %s must be positive", src.Name)
		}
		r, err := c.calc.rawResourceReplicas(ctx, t.replicas, target, src.Name, namespace, t.selector)
		if err != nil {
			return 0, "", fmt.Errorf("failed to get %s usage: %w", src.Name, err)
		}
		*status = autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
			Name:    src.Name,
			Current: autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(r.average, resource.DecimalSI)},
		}}
		return r.replicas, fmt.Sprintf("%s resource", src.Name), nil
	}
	if src.Target.AverageUtilization == nil || *src.Target.AverageUtilization <= 0 {
		return 0, "", errors.New("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set")
	}
	r, err := c.calc.resourceReplicas(ctx, t.replicas, *src.Target.AverageUtilization, src.Name, namespace, t.selector)
	if err != nil {
		return 0, "", fmt.Errorf("failed to get %s utilization: %w", src.Name, err)
	}
	*status = autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: src.Name,
		Current: autoscalingv2.MetricValueStatus{
			AverageUtilization: ptr.To(r.utilization),
			AverageValue:       resource.NewMilliQuantity(r.rawAverage, resource.DecimalSI),
		},
	}}
	return r.replicas, fmt.Sprintf("%s resource utilization (percentage of request)", src.Name), nil
}
