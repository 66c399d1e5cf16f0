package daemonset

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testNode(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func taint(key string, effect corev1.TaintEffect) corev1.Taint {
	return corev1.Taint{Key: key, Effect: effect}
}

func testSet(change func(*corev1.PodSpec)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "agent", UID: "ds-uid"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
			},
		},
	}
	if change != nil {
		change(&ds.Spec.Template.Spec)
	}
	return ds
}

func TestJudge(t *testing.T) {
	run, cont, none := eligibility{true, true}, eligibility{false, true}, eligibility{}
	affinity := func(op corev1.NodeSelectorOperator, key string, vals ...string) func(*corev1.PodSpec) {
		return func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: vals}}}},
			}}}
		}
	}
	tests := []struct {
		name string
		spec func(*corev1.PodSpec)
		node *corev1.Node
		want eligibility
	}{
		{name: "plain node", node: testNode("a", nil), want: run},
		{name: "nodeSelector matches", spec: func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"disk": "ssd"} },
			node: testNode("a", map[string]string{"disk": "ssd"}), want: run},
		{name: "nodeSelector does not match", spec: func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"disk": "ssd"} },
			node: testNode("a", map[string]string{"disk": "hdd"}), want: none},
		{name: "required affinity In matches", spec: affinity(corev1.NodeSelectorOpIn, "zone", "z1", "z2"),
			node: testNode("a", map[string]string{"zone": "z2"}), want: run},
		{name: "required affinity NotIn refuses", spec: affinity(corev1.NodeSelectorOpNotIn, "zone", "z2"),
			node: testNode("a", map[string]string{"zone": "z2"}), want: none},
		{name: "template nodeName elsewhere", spec: func(s *corev1.PodSpec) { s.NodeName = "b" }, node: testNode("a", nil), want: none},
		{name: "untolerated NoSchedule: keep, do not start", node: testNode("a", nil, taint("dedicated", corev1.TaintEffectNoSchedule)), want: cont},
		{name: "untolerated NoExecute: neither", node: testNode("a", nil, taint("dedicated", corev1.TaintEffectNoExecute)), want: none},
		{name: "PreferNoSchedule is ignored", node: testNode("a", nil, taint("dedicated", corev1.TaintEffectPreferNoSchedule)), want: run},
		{name: "tolerated NoExecute", spec: func(s *corev1.PodSpec) {
			s.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
		}, node: testNode("a", nil, taint("dedicated", corev1.TaintEffectNoExecute)), want: run},
		{name: "daemon tolerations: unschedulable", node: testNode("a", nil, taint(taintUnschedulable, corev1.TaintEffectNoSchedule)), want: run},
		{name: "daemon tolerations: memory pressure", node: testNode("a", nil, taint(taintMemoryPressure, corev1.TaintEffectNoSchedule)), want: run},
		{name: "daemon tolerations: unreachable NoExecute", node: testNode("a", nil, taint(taintUnreachable, corev1.TaintEffectNoExecute)), want: run},
		{name: "not-ready NoSchedule is not tolerated", node: testNode("a", nil, taint(taintNotReady, corev1.TaintEffectNoSchedule)), want: cont},
		{name: "network-unavailable refuses a pod network pod", node: testNode("a", nil, taint(taintNetworkUnavailable, corev1.TaintEffectNoSchedule)), want: cont},
		{name: "network-unavailable is tolerated with hostNetwork", spec: func(s *corev1.PodSpec) { s.HostNetwork = true },
			node: testNode("a", nil, taint(taintNetworkUnavailable, corev1.TaintEffectNoSchedule)), want: run},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := testSet(tt.spec)
			if got := judge(ds, daemonTolerations(ds), tt.node); got != tt.want {
				t.Errorf("judge = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewPod(t *testing.T) {
	ds := testSet(func(s *corev1.PodSpec) {
		s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}}}},
		}}}
		s.Tolerations = []corev1.Toleration{{Key: taintUnschedulable, Operator: corev1.TolerationOpEqual, Value: "x", Effect: corev1.TaintEffectNoSchedule}}
	})
	p := newPod(ds, "node-7", "abc", 3, controllerRef(ds))
	if got, err := targetNode(p); err != nil || got != "node-7" {
		t.Errorf("targetNode = %q, %v; want node-7", got, err)
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 0 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" {
		t.Errorf("required node affinity = %+v, want only matchFields metadata.name In [node-7]", terms)
	}
	if p.Labels[LabelRevisionHash] != "abc" || p.Labels[LabelTemplateGeneration] != "3" || p.Labels["app"] != "agent" {
		t.Errorf("labels = %v", p.Labels)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != ds.UID || ref.Kind != "DaemonSet" {
		t.Errorf("controller reference = %+v", ref)
	}
	var keys []string
	for _, tol := range p.Spec.Tolerations {
		keys = append(keys, tol.Key+":"+string(tol.Effect))
		if tol.Key == taintUnschedulable && tol.Operator != corev1.TolerationOpExists {
			t.Errorf("the template's unschedulable toleration was not replaced: %+v", tol)
		}
	}
	want := []string{taintUnschedulable + ":NoSchedule", taintNotReady + ":NoExecute", taintUnreachable + ":NoExecute",
		taintDiskPressure + ":NoSchedule", taintMemoryPressure + ":NoSchedule", taintPIDPressure + ":NoSchedule"}
	if !slices.Equal(keys, want) {
		t.Errorf("tolerations = %v, want %v", keys, want)
	}
	if ds.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions == nil {
		t.Error("newPod changed the DaemonSet's template")
	}
}
