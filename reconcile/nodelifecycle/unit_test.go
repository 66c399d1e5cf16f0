package nodelifecycle

import (
	"errors"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCIDRSet(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		mask    int
		observe map[string][]string // before allocating
		alloc   []string            // nodes, in order
		want    []string            // CIDR per allocated node; "" = exhausted
	}{
		{name: "first subnets in order", cluster: "10.244.0.0/16", mask: 24,
			alloc: []string{"a", "b", "c"}, want: []string{"10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"}},
		{name: "observed subnets are skipped", cluster: "10.244.0.0/16", mask: 24,
			observe: map[string][]string{"x": {"10.244.0.0/24"}, "y": {"10.244.2.0/24"}},
			alloc:   []string{"a", "b"}, want: []string{"10.244.1.0/24", "10.244.3.0/24"}},
		{name: "a larger observed CIDR covers several subnets", cluster: "10.244.0.0/16", mask: 24,
			observe: map[string][]string{"x": {"10.244.0.0/23"}},
			alloc:   []string{"a"}, want: []string{"10.244.2.0/24"}},
		{name: "CIDRs outside the cluster CIDR are ignored", cluster: "10.244.0.0/16", mask: 24,
			observe: map[string][]string{"x": {"192.168.0.0/24", "fd00::/64"}},
			alloc:   []string{"a"}, want: []string{"10.244.0.0/24"}},
		{name: "a node keeps its subnet", cluster: "10.244.0.0/16", mask: 24,
			observe: map[string][]string{"a": {"10.244.7.0/24"}},
			alloc:   []string{"a"}, want: []string{"10.244.7.0/24"}},
		{name: "exhausted", cluster: "10.9.0.0/23", mask: 24,
			alloc: []string{"a", "b", "c"}, want: []string{"10.9.0.0/24", "10.9.1.0/24", ""}},
		{name: "IPv6", cluster: "fd00:10::/56", mask: 64,
			alloc: []string{"a", "b"}, want: []string{"fd00:10::/64", "fd00:10:0:1::/64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newCIDRSet(mustCIDR(t, tt.cluster), tt.mask)
			if err != nil {
				t.Fatal(err)
			}
			for node, cidrs := range tt.observe {
				if err := s.observe(node, cidrs); err != nil {
					t.Fatal(err)
				}
			}
			for i, node := range tt.alloc {
				got, err := s.allocate(node)
				if tt.want[i] == "" {
					if !errors.Is(err, ErrCIDRRangeExhausted) {
						t.Errorf("allocate(%s) = %v, %v; want ErrCIDRRangeExhausted", node, got, err)
					}
					continue
				}
				if err != nil || got.String() != tt.want[i] {
					t.Errorf("allocate(%s) = %v, %v; want %s", node, got, err, tt.want[i])
				}
			}
		})
	}
}

func TestCIDRSetReleaseAndClash(t *testing.T) {
	s, err := newCIDRSet(mustCIDR(t, "10.9.0.0/23"), 24)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.allocate("a")
	if _, err := s.allocate("b"); err != nil {
		t.Fatal(err)
	}
	if err := s.observe("c", []string{a.String()}); err == nil {
		t.Error("observe of a subnet held by another node: want an error")
	}
	s.release("a")
	got, err := s.allocate("c")
	if err != nil || got.String() != a.String() {
		t.Errorf("after release: allocate(c) = %v, %v; want %s", got, err, a)
	}
}

func TestNewCIDRSetRejects(t *testing.T) {
	for _, tt := range []struct {
		cluster string
		mask    int
	}{{"10.0.0.0/16", 8}, {"10.0.0.0/16", 33}, {"10.0.0.0/8", 30}} {
		if _, err := newCIDRSet(mustCIDR(t, tt.cluster), tt.mask); err == nil {
			t.Errorf("newCIDRSet(%s, /%d): want an error", tt.cluster, tt.mask)
		}
	}
}

func TestTolerationTime(t *testing.T) {
	unreachable := &corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	tol := func(key string, op corev1.TolerationOperator, eff corev1.TaintEffect, secs *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: op, Effect: eff, TolerationSeconds: secs}
	}
	const def = 300 * time.Second
	tests := []struct {
		name        string
		tolerations []corev1.Toleration
		want        time.Duration
		wantForever bool
	}{
		{name: "no toleration: the default", want: def},
		{name: "another key: the default",
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeNotReady, corev1.TolerationOpExists, corev1.TaintEffectNoExecute, ptr.To[int64](5))},
			want:        def},
		{name: "tolerationSeconds",
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, corev1.TaintEffectNoExecute, ptr.To[int64](600))},
			want:        600 * time.Second},
		{name: "least of several",
			tolerations: []corev1.Toleration{
				tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, corev1.TaintEffectNoExecute, ptr.To[int64](600)),
				tol("", corev1.TolerationOpExists, "", ptr.To[int64](30)),
			},
			want: 30 * time.Second},
		{name: "no tolerationSeconds: forever",
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, corev1.TaintEffectNoExecute, nil)},
			wantForever: true},
		{name: "tolerate everything: forever",
			tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			wantForever: true},
		{name: "NoSchedule toleration does not cover NoExecute",
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, corev1.TaintEffectNoSchedule, nil)},
			want:        def},
		{name: "zero seconds: at once",
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, corev1.TolerationOpExists, corev1.TaintEffectNoExecute, ptr.To[int64](0))},
			want:        0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.tolerations}}
			got, ok := tolerationTime(pod, unreachable, def)
			if !ok != tt.wantForever || (ok && got != tt.want) {
				t.Errorf("tolerationTime = %v, %v; want %v, forever=%v", got, ok, tt.want, tt.wantForever)
			}
		})
	}
}

func TestSetLifecycleTaints(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := metav1.NewTime(t0.Add(-time.Hour))
	now := metav1.NewTime(t0)
	custom := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	unreach := func(eff corev1.TaintEffect, at metav1.Time) corev1.Taint {
		return corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: eff, TimeAdded: &at}
	}
	notReady := func(eff corev1.TaintEffect, at metav1.Time) corev1.Taint {
		return corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: eff, TimeAdded: &at}
	}
	tests := []struct {
		name        string
		have        []corev1.Taint
		want        string
		wantTaints  []corev1.Taint
		wantChanged bool
	}{
		{name: "add unreachable", have: []corev1.Taint{custom}, want: corev1.TaintNodeUnreachable,
			wantTaints:  []corev1.Taint{custom, unreach(corev1.TaintEffectNoSchedule, now), unreach(corev1.TaintEffectNoExecute, now)},
			wantChanged: true},
		{name: "keep existing timeAdded",
			have:       []corev1.Taint{unreach(corev1.TaintEffectNoSchedule, old), unreach(corev1.TaintEffectNoExecute, old)},
			want:       corev1.TaintNodeUnreachable,
			wantTaints: []corev1.Taint{unreach(corev1.TaintEffectNoSchedule, old), unreach(corev1.TaintEffectNoExecute, old)}},
		{name: "not-ready replaces unreachable",
			have:        []corev1.Taint{unreach(corev1.TaintEffectNoSchedule, old), custom, unreach(corev1.TaintEffectNoExecute, old)},
			want:        corev1.TaintNodeNotReady,
			wantTaints:  []corev1.Taint{custom, notReady(corev1.TaintEffectNoSchedule, now), notReady(corev1.TaintEffectNoExecute, now)},
			wantChanged: true},
		{name: "remove all lifecycle taints",
			have:        []corev1.Taint{notReady(corev1.TaintEffectNoSchedule, old), custom, notReady(corev1.TaintEffectNoExecute, old)},
			wantTaints:  []corev1.Taint{custom},
			wantChanged: true},
		{name: "nothing to do", have: []corev1.Taint{custom}, wantTaints: []corev1.Taint{custom}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &corev1.Node{Spec: corev1.NodeSpec{Taints: tt.have}}
			changed := setLifecycleTaints(node, tt.want, t0)
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			if len(node.Spec.Taints) != len(tt.wantTaints) {
				t.Fatalf("taints = %v, want %v", node.Spec.Taints, tt.wantTaints)
			}
			for i := range tt.wantTaints {
				g, w := node.Spec.Taints[i], tt.wantTaints[i]
				if g.Key != w.Key || g.Effect != w.Effect || g.Value != w.Value ||
					(g.TimeAdded == nil) != (w.TimeAdded == nil) || (g.TimeAdded != nil && !g.TimeAdded.Equal(w.TimeAdded)) {
					t.Errorf("taint %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestMarkUnknown(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hb := metav1.NewTime(t0.Add(-time.Minute))
	node := &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: hb},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: hb},
	}}}
	if !markUnknown(node, t0) {
		t.Fatal("markUnknown reported no change")
	}
	for _, ct := range watchedConditions {
		c := condition(node, ct)
		if c == nil || c.Status != corev1.ConditionUnknown {
			t.Errorf("%s = %+v, want Unknown", ct, c)
		}
	}
	ready := condition(node, corev1.NodeReady)
	if ready.Reason != ReasonNodeStatusUnknown || ready.Message != MessageNodeStatusUnknown ||
		!ready.LastHeartbeatTime.Equal(&hb) || !ready.LastTransitionTime.Time.Equal(t0) {
		t.Errorf("Ready = %+v", ready)
	}
	if markUnknown(node, t0.Add(time.Minute)) {
		t.Error("second markUnknown reported a change")
	}
}
