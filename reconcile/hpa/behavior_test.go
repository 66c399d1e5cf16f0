package hpa

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/utils/ptr"
)

func rules(window int32, sel autoscalingv2.ScalingPolicySelect, policies ...autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To(window), SelectPolicy: ptr.To(sel), Policies: policies}
}

func podsPolicy(n, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: n, PeriodSeconds: period}
}

func percentPolicy(n, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: n, PeriodSeconds: period}
}

func TestRateLimited(t *testing.T) {
	maxSel, minSel := autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect
	disabled := autoscalingv2.DisabledPolicySelect
	tests := []struct {
		name       string
		up, down   *autoscalingv2.HPAScalingRules
		ups, downs []scaleEvent // relative to t0
		min, max   int32
		current    int32
		desired    int32
		want       int32
		wantReason string
	}{
		{name: "default scale-up: the larger of +4 pods and +100%", up: defaultScaleUp(),
			min: 1, max: 100, current: 2, desired: 20, want: 6, wantReason: ReasonScaleUpLimit},
		{name: "default scale-up: +100% of 10", up: defaultScaleUp(),
			min: 1, max: 100, current: 10, desired: 50, want: 20, wantReason: ReasonScaleUpLimit},
		{name: "selectPolicy Min picks the smaller change", up: rules(0, minSel, podsPolicy(4, 15), percentPolicy(100, 15)),
			min: 1, max: 100, current: 2, desired: 20, want: 4, wantReason: ReasonScaleUpLimit},
		{name: "selectPolicy Disabled does not scale up", up: rules(0, disabled, podsPolicy(4, 15)),
			min: 1, max: 100, current: 2, desired: 20, want: 2, wantReason: ReasonScaleUpLimit},
		{name: "a scale-up within the period uses up the policy", up: rules(0, maxSel, podsPolicy(2, 60)),
			ups: []scaleEvent{{change: 2, at: t0.Add(-30 * time.Second)}},
			min: 1, max: 100, current: 4, desired: 10, want: 4, wantReason: ReasonScaleUpLimit},
		{name: "a scale-up older than the period does not count", up: rules(0, maxSel, podsPolicy(2, 60)),
			ups: []scaleEvent{{change: 2, at: t0.Add(-61 * time.Second)}},
			min: 1, max: 100, current: 4, desired: 10, want: 6, wantReason: ReasonScaleUpLimit},
		{name: "maxReplicas bounds a scale-up", up: defaultScaleUp(),
			min: 1, max: 5, current: 4, desired: 20, want: 5, wantReason: ReasonTooManyReplicas},
		{name: "within range", up: defaultScaleUp(),
			min: 1, max: 10, current: 4, desired: 6, want: 6, wantReason: ReasonDesiredWithinRange},
		{name: "scale-down by at most 50%", down: rules(0, maxSel, percentPolicy(50, 60)),
			min: 1, max: 100, current: 10, desired: 1, want: 5, wantReason: ReasonScaleDownLimit},
		{name: "scale-down policies with Max: the larger change", down: rules(0, maxSel, percentPolicy(50, 60), podsPolicy(1, 60)),
			min: 1, max: 100, current: 10, desired: 1, want: 5, wantReason: ReasonScaleDownLimit},
		{name: "scale-down policies with Min: the smaller change", down: rules(0, minSel, percentPolicy(50, 60), podsPolicy(1, 60)),
			min: 1, max: 100, current: 10, desired: 1, want: 9, wantReason: ReasonScaleDownLimit},
		{name: "a scale-down within the period uses up the policy", down: rules(0, maxSel, podsPolicy(2, 60)),
			downs: []scaleEvent{{change: 2, at: t0.Add(-10 * time.Second)}},
			min:   1, max: 100, current: 8, desired: 1, want: 8, wantReason: ReasonScaleDownLimit},
		{name: "scale-down Disabled", down: rules(0, disabled, podsPolicy(2, 60)),
			min: 1, max: 100, current: 8, desired: 1, want: 8, wantReason: ReasonScaleDownLimit},
		{name: "minReplicas bounds a scale-down", down: defaultScaleDown(5 * time.Minute),
			min: 3, max: 100, current: 8, desired: 1, want: 3, wantReason: ReasonTooFewReplicas},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory()
			h.ups["k"], h.downs["k"] = tt.ups, tt.downs
			a := limits{key: "k", up: tt.up, down: tt.down, min: tt.min, max: tt.max, current: tt.current, desired: tt.desired}
			got, reason, _ := h.rateLimited(a, t0)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("got %d (%s), want %d (%s)", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestStabilizeWithBehavior(t *testing.T) {
	tests := []struct {
		name           string
		upWin, downWin int32
		recs           []recommendation
		current        int32
		desired        int32
		want           int32
	}{
		{name: "scale-down held by a higher recommendation within the window", upWin: 0, downWin: 300,
			recs: []recommendation{{replicas: 8, at: t0.Add(-100 * time.Second)}}, current: 8, desired: 3, want: 8},
		{name: "scale-down to the highest recommendation of the window", upWin: 0, downWin: 300,
			recs:    []recommendation{{replicas: 8, at: t0.Add(-400 * time.Second)}, {replicas: 5, at: t0.Add(-100 * time.Second)}},
			current: 8, desired: 3, want: 5},
		{name: "scale-down once the window passed", upWin: 0, downWin: 300,
			recs: []recommendation{{replicas: 8, at: t0.Add(-301 * time.Second)}}, current: 8, desired: 3, want: 3},
		{name: "scale-up held by a lower recommendation within its window", upWin: 60, downWin: 300,
			recs: []recommendation{{replicas: 4, at: t0.Add(-30 * time.Second)}}, current: 4, desired: 10, want: 4},
		{name: "scale-up to the lowest recommendation of its window", upWin: 60, downWin: 300,
			recs:    []recommendation{{replicas: 4, at: t0.Add(-90 * time.Second)}, {replicas: 7, at: t0.Add(-30 * time.Second)}},
			current: 4, desired: 10, want: 7},
		{name: "scale-up at once with the default window of 0", upWin: 0, downWin: 300,
			recs: []recommendation{{replicas: 4, at: t0.Add(-30 * time.Second)}}, current: 4, desired: 10, want: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHistory()
			h.recs["k"] = tt.recs
			a := limits{key: "k", up: rules(tt.upWin, autoscalingv2.MaxChangePolicySelect), down: rules(tt.downWin, autoscalingv2.MaxChangePolicySelect),
				min: 1, max: 100, current: tt.current, desired: tt.desired}
			got, _, _ := h.stabilizeWithBehavior(a, t0)
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
			if n := len(h.recs["k"]); n < 1 || h.recs["k"][n-1].replicas != tt.desired && !containsRec(h.recs["k"], tt.desired) {
				t.Errorf("the unstabilized recommendation %d was not recorded: %v", tt.desired, h.recs["k"])
			}
		})
	}
}

func containsRec(recs []recommendation, n int32) bool {
	for _, r := range recs {
		if r.replicas == n && r.at.Equal(t0) {
			return true
		}
	}
	return false
}

func TestLegacyRules(t *testing.T) {
	tests := []struct {
		name                      string
		current, desired, min, mx int32
		want                      int32
		wantReason                string
	}{
		{name: "at most max(2*current, 4): 4 from 1", current: 1, desired: 10, min: 1, mx: 20, want: 4, wantReason: ReasonScaleUpLimit},
		{name: "at most max(2*current, 4): 10 from 5", current: 5, desired: 30, min: 1, mx: 20, want: 10, wantReason: ReasonScaleUpLimit},
		{name: "maxReplicas", current: 5, desired: 9, min: 1, mx: 8, want: 8, wantReason: ReasonTooManyReplicas},
		{name: "minReplicas", current: 5, desired: 1, min: 2, mx: 8, want: 2, wantReason: ReasonTooFewReplicas},
		{name: "within range", current: 5, desired: 7, min: 2, mx: 8, want: 7, wantReason: ReasonDesiredWithinRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, _ := legacyRules(tt.current, tt.desired, tt.min, tt.mx)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("got %d (%s), want %d (%s)", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestStoreScaleEventReusesOutdated(t *testing.T) {
	h := newHistory()
	up := rules(0, autoscalingv2.MaxChangePolicySelect, podsPolicy(4, 60))
	h.storeScaleEvent("k", up, defaultScaleDown(time.Minute), 2, 4, t0.Add(-2*time.Minute))
	h.storeScaleEvent("k", up, defaultScaleDown(time.Minute), 4, 7, t0)
	if len(h.ups["k"]) != 1 || h.ups["k"][0].change != 3 {
		t.Fatalf("scale-up events %+v, want the outdated one replaced by +3", h.ups["k"])
	}
	if got := changeInPeriod(60, h.ups["k"], t0.Add(time.Second)); got != 3 {
		t.Errorf("change in the last 60 s = %d, want 3", got)
	}
}
