package hpa

import (
	"math"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Reasons of the AbleToScale and ScalingLimited conditions set while the
// desired count is normalized, as Kubernetes writes them.
const (
	ReasonScaleUpStabilized   = "ScaleUpStabilized"
	ReasonScaleDownStabilized = "ScaleDownStabilized"
	ReasonReadyForNewScale    = "ReadyForNewScale"
	ReasonScaleUpLimit        = "ScaleUpLimit"
	ReasonScaleDownLimit      = "ScaleDownLimit"
	ReasonTooManyReplicas     = "TooManyReplicas"
	ReasonTooFewReplicas      = "TooFewReplicas"
	ReasonDesiredWithinRange  = "DesiredWithinRange"
)

// recommendation is one pass's unstabilized desired count.
type recommendation struct {
	replicas int32
	at       time.Time
}

// scaleEvent is one rescale, remembered for the rate policies.
type scaleEvent struct {
	change   int32
	at       time.Time
	outdated bool
}

// history is what the controller remembers of each HPA between passes, as
// kube-controller-manager keeps it in memory (a new leader starts afresh).
type history struct {
	mu    sync.Mutex
	recs  map[string][]recommendation
	ups   map[string][]scaleEvent
	downs map[string][]scaleEvent
}

func newHistory() *history {
	return &history{recs: map[string][]recommendation{}, ups: map[string][]scaleEvent{}, downs: map[string][]scaleEvent{}}
}

// forget drops what is remembered of key (its HPA was deleted).
func (h *history) forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.recs, key)
	delete(h.ups, key)
	delete(h.downs, key)
}

// recordInitial remembers the current count as the first recommendation.
func (h *history) recordInitial(key string, current int32, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.recs[key] == nil {
		h.recs[key] = []recommendation{{replicas: current, at: now}}
	}
}

// record stores desired as this pass's recommendation, reusing a slot older
// than every window (found is whether one was found, at index i).
func (h *history) record(key string, desired int32, now time.Time, found bool, i int) {
	r := recommendation{replicas: desired, at: now}
	if found {
		h.recs[key][i] = r
		return
	}
	h.recs[key] = append(h.recs[key], r)
}

// defaultScaleUp and defaultScaleDown are Kubernetes' behavior defaults;
// the scale-down window is the controller's downscale stabilization.
func defaultScaleUp() *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To[int32](0),
		SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

func defaultScaleDown(window time.Duration) *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{
		StabilizationWindowSeconds: ptr.To(int32(window / time.Second)),
		SelectPolicy:               ptr.To(autoscalingv2.MaxChangePolicySelect),
		Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		},
	}
}

// withDefaults fills the unset fields of rules from def, as the API's
// defaulting of spec.behavior does.
func withDefaults(rules, def *autoscalingv2.HPAScalingRules) *autoscalingv2.HPAScalingRules {
	if rules == nil {
		return def
	}
	out := rules.DeepCopy()
	if out.StabilizationWindowSeconds == nil {
		out.StabilizationWindowSeconds = def.StabilizationWindowSeconds
	}
	if out.SelectPolicy == nil {
		out.SelectPolicy = def.SelectPolicy
	}
	if len(out.Policies) == 0 {
		out.Policies = def.Policies
	}
	return out
}

// limits is one normalization's input.
type limits struct {
	key              string
	up, down         *autoscalingv2.HPAScalingRules
	min, max         int32
	current, desired int32
}

// normalizeWithBehavior stabilizes desired over the windows, then bounds it
// by the rate policies and min/max (Kubernetes'
// normalizeDesiredReplicasWithBehaviors).
func (c *Controller) normalizeWithBehavior(hpa *autoscalingv2.HorizontalPodAutoscaler, a limits) int32 {
	now := c.clock.Now()
	stabilized, reason, msg := c.history.stabilizeWithBehavior(a, now)
	if stabilized != a.desired {
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, reason, msg, now)
	} else {
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, ReasonReadyForNewScale, "recommended size matches current size", now)
	}
	a.desired = stabilized
	desired, reason, msg := c.history.rateLimited(a, now)
	status := corev1.ConditionTrue
	if desired == stabilized {
		status = corev1.ConditionFalse
	}
	setCondition(hpa, autoscalingv2.ScalingLimited, status, reason, msg, now)
	return desired
}

// stabilizeWithBehavior bounds the recommendation by the lowest one of the
// scale-up window and the highest one of the scale-down window.
func (h *history) stabilizeWithBehavior(a limits, now time.Time) (int32, string, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	upCut := now.Add(-time.Duration(*a.up.StabilizationWindowSeconds) * time.Second)
	downCut := now.Add(-time.Duration(*a.down.StabilizationWindowSeconds) * time.Second)
	upRec, downRec := a.desired, a.desired
	found, oldest := false, 0
	for i, r := range h.recs[a.key] {
		if r.at.After(upCut) {
			upRec = min(upRec, r.replicas)
		}
		if r.at.After(downCut) {
			downRec = max(downRec, r.replicas)
		}
		if r.at.Before(upCut) && r.at.Before(downCut) {
			found, oldest = true, i
		}
	}
	rec := max(a.current, upRec)
	rec = min(rec, downRec)
	h.record(a.key, a.desired, now, found, oldest)
	if a.desired >= a.current {
		return rec, ReasonScaleUpStabilized, "recent recommendations were lower than current one, applying the lowest recent recommendation"
	}
	return rec, ReasonScaleDownStabilized, "recent recommendations were higher than current one, applying the highest recent recommendation"
}

// rateLimited bounds desired by the scaling policies and min/max.
func (h *history) rateLimited(a limits, now time.Time) (int32, string, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case a.desired > a.current:
		limit := max(scaleUpLimit(a.current, h.ups[a.key], a.up, now), a.current)
		allowed, reason, msg := a.max, ReasonTooManyReplicas, "the desired replica count is more than the maximum replica count"
		if allowed > limit {
			allowed, reason, msg = limit, ReasonScaleUpLimit, "the desired replica count is increasing faster than the maximum scale rate"
		}
		if a.desired > allowed {
			return allowed, reason, msg
		}
	case a.desired < a.current:
		limit := min(scaleDownLimit(a.current, h.downs[a.key], a.down, now), a.current)
		allowed, reason, msg := a.min, ReasonTooFewReplicas, "the desired replica count is less than the minimum replica count"
		if allowed < limit {
			allowed, reason, msg = limit, ReasonScaleDownLimit, "the desired replica count is decreasing faster than the maximum scale rate"
		}
		if a.desired < allowed {
			return allowed, reason, msg
		}
	}
	return a.desired, ReasonDesiredWithinRange, "the desired count is within the acceptable range"
}

// changeInPeriod sums the replica changes of events within the last
// periodSeconds.
func changeInPeriod(periodSeconds int32, events []scaleEvent, now time.Time) int32 {
	cut := now.Add(-time.Duration(periodSeconds) * time.Second)
	var sum int32
	for _, e := range events {
		if e.at.After(cut) && !e.outdated {
			sum += e.change
		}
	}
	return sum
}

// scaleUpLimit is the most replicas the policies allow now.
func scaleUpLimit(current int32, events []scaleEvent, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	pick, result := selectFuncs(*rules.SelectPolicy, true)
	if pick == nil {
		return current
	}
	for _, p := range rules.Policies {
		start := current - changeInPeriod(p.PeriodSeconds, events, now)
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = start + p.Value
		case autoscalingv2.PercentScalingPolicy:
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// scaleDownLimit is the fewest replicas the policies allow now.
func scaleDownLimit(current int32, events []scaleEvent, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	pick, result := selectFuncs(*rules.SelectPolicy, false)
	if pick == nil {
		return current
	}
	for _, p := range rules.Policies {
		start := current + changeInPeriod(p.PeriodSeconds, events, now)
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = start - p.Value
		case autoscalingv2.PercentScalingPolicy:
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

// selectFuncs returns how policies' proposals combine and the neutral start:
// Max picks the largest change (the largest count up, the smallest down),
// Min the smallest; nil for Disabled.
func selectFuncs(sel autoscalingv2.ScalingPolicySelect, up bool) (func(a, b int32) int32, int32) {
	largestChange := sel != autoscalingv2.MinChangePolicySelect
	switch {
	case sel == autoscalingv2.DisabledPolicySelect:
		return nil, 0
	case largestChange == up:
		return func(a, b int32) int32 { return max(a, b) }, math.MinInt32
	default:
		return func(a, b int32) int32 { return min(a, b) }, math.MaxInt32
	}
}

// storeScaleEvent remembers a rescale for the rate policies, reusing an
// event older than the longest policy period.
func (h *history) storeScaleEvent(key string, up, down *autoscalingv2.HPAScalingRules, prev, next int32, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	events, rules, change := h.downs, down, prev-next
	if next > prev {
		events, rules, change = h.ups, up, next-prev
	}
	longest := int32(0)
	for _, p := range rules.Policies {
		longest = max(longest, p.PeriodSeconds)
	}
	cut := now.Add(-time.Duration(longest) * time.Second)
	list := events[key]
	for i := range list {
		if list[i].at.Before(cut) {
			list[i].outdated = true
		}
	}
	e := scaleEvent{change: change, at: now}
	for i := range list {
		if list[i].outdated {
			list[i] = e
			return
		}
	}
	events[key] = append(list, e)
}

// normalizeLegacy is Kubernetes' normalizeDesiredReplicas, for an HPA
// without spec.behavior: a scale-down stabilization window and a scale-up
// limit of max(2 * current, 4).
func (c *Controller) normalizeLegacy(hpa *autoscalingv2.HorizontalPodAutoscaler, a limits) int32 {
	now := c.clock.Now()
	stabilized := c.history.stabilizeLegacy(a.key, a.desired, now.Add(-c.downscaleWindow), now)
	if stabilized != a.desired {
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, ReasonScaleDownStabilized,
			"recent recommendations were higher than current one, applying the highest recent recommendation", now)
	} else {
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, ReasonReadyForNewScale, "recommended size matches current size", now)
	}
	desired, reason, msg := legacyRules(a.current, stabilized, a.min, a.max)
	status := corev1.ConditionTrue
	if desired == stabilized {
		status = corev1.ConditionFalse
	}
	setCondition(hpa, autoscalingv2.ScalingLimited, status, reason, msg, now)
	return desired
}

// stabilizeLegacy returns the highest recommendation since cut.
func (h *history) stabilizeLegacy(key string, desired int32, cut, now time.Time) int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	highest := desired
	found, oldest := false, 0
	for i, r := range h.recs[key] {
		if r.at.Before(cut) {
			found, oldest = true, i
		} else if r.replicas > highest {
			highest = r.replicas
		}
	}
	h.record(key, desired, now, found, oldest)
	return highest
}

// legacyRules bounds desired by min, max and the scale-up limit.
func legacyRules(current, desired, minReplicas, maxReplicas int32) (int32, string, string) {
	allowed, reason, msg := maxReplicas, ReasonTooManyReplicas, "the desired replica count is more than the maximum replica count"
	if limit := max(2*current, 4); maxReplicas > limit {
		allowed, reason, msg = limit, ReasonScaleUpLimit, "the desired replica count is increasing faster than the maximum scale rate"
	}
	switch {
	case desired < minReplicas:
		return minReplicas, ReasonTooFewReplicas, "the desired replica count is less than the minimum replica count"
	case desired > allowed:
		return allowed, reason, msg
	}
	return desired, ReasonDesiredWithinRange, "the desired count is within the acceptable range"
}
