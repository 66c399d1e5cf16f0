package printers_test

import (
	"bytes"
	"flag"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client/printers"
	"github.com/bosun-dev/bosun/client/rollout"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var now = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

func meta(ns, name string, age time.Duration, managed bool) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(now.Add(-age)), ResourceVersion: "42"}
	if managed {
		m.Labels = map[string]string{api.LabelManagedBy: api.ManagedByValue}
		m.Annotations = map[string]string{
			api.AnnotationCommit: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
			api.AnnotationSource: "apps/" + name + ".yaml:3",
		}
	}
	return m
}

func i32(n int32) *int32 { return &n }

func objects() map[string][]api.Object {
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "web", Image: "nginx:1.25"}, {Name: "log", Image: "busybox"},
		}},
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	return map[string][]api.Object{
		"deployments": {
			&appsv1.Deployment{ObjectMeta: meta("default", "web", 5*time.Minute+3*time.Second, true),
				Spec:   appsv1.DeploymentSpec{Replicas: i32(3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: tmpl},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
			&appsv1.Deployment{ObjectMeta: meta("shop", "cart", 4*time.Hour, false),
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cart"}}, Template: tmpl}},
		},
		"replicasets": {
			&appsv1.ReplicaSet{ObjectMeta: meta("default", "web-5d4f8c7b9", 3*24*time.Hour, false),
				Spec:   appsv1.ReplicaSetSpec{Replicas: i32(3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: tmpl},
				Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}},
		},
		"replicationcontrollers": {
			&corev1.ReplicationController{ObjectMeta: meta("default", "legacy", 90*time.Second, true),
				Spec: corev1.ReplicationControllerSpec{Replicas: i32(1), Selector: map[string]string{"app": "legacy"}, Template: &tmpl}},
		},
		"pods": {
			&corev1.Pod{ObjectMeta: meta("default", "web-5d4f8c7b9-abcde", 2*time.Minute, false),
				Spec: corev1.PodSpec{NodeName: "node-1", Containers: tmpl.Spec.Containers},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.42.0.7", ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", Ready: true, State: running, RestartCount: 1},
					{Name: "log", Ready: true, State: running, RestartCount: 2},
				}}},
			&corev1.Pod{ObjectMeta: meta("default", "crashy", 10*time.Minute, true),
				Spec: corev1.PodSpec{Containers: tmpl.Spec.Containers[:1]},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
					{Name: "web", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}, RestartCount: 7},
				}}},
			&corev1.Pod{ObjectMeta: meta("default", "new", 3*time.Second, false), Spec: corev1.PodSpec{Containers: tmpl.Spec.Containers[:1]}},
		},
		"services": {
			&corev1.Service{ObjectMeta: meta("default", "web", time.Hour, true), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.10", Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}, {Port: 53, Protocol: corev1.ProtocolUDP}}}},
			&corev1.Service{ObjectMeta: meta("default", "headless", 2*time.Hour, false), Spec: corev1.ServiceSpec{ClusterIP: "None"}},
			&corev1.Service{ObjectMeta: meta("default", "lb", 2*time.Hour, false), Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.11", Ports: []corev1.ServicePort{{Port: 443, NodePort: 31443, Protocol: corev1.ProtocolTCP}}}},
		},
		"configmaps": {
			&corev1.ConfigMap{ObjectMeta: meta("default", "settings", 48*time.Hour, true), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {1}}},
		},
		"secrets": {
			&corev1.Secret{ObjectMeta: meta("default", "creds", 30*24*time.Hour, true), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"user": []byte("u")}, StringData: map[string]string{"password": "p"}},
		},
		"namespaces": {
			&corev1.Namespace{ObjectMeta: meta("", "shop", 400*24*time.Hour, true)},
			&corev1.Namespace{ObjectMeta: meta("", "old", time.Hour, false), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
		},
		"endpoints": {
			&corev1.Endpoints{ObjectMeta: meta("default", "web", time.Hour, false), Subsets: []corev1.EndpointSubset{{ //nolint:staticcheck
				Addresses: []corev1.EndpointAddress{{IP: "10.42.0.7"}, {IP: "10.42.0.8"}, {IP: "10.42.0.9"}, {IP: "10.42.1.2"}},
				Ports:     []corev1.EndpointPort{{Port: 8080}}, //nolint:staticcheck
			}}},
			&corev1.Endpoints{ObjectMeta: meta("default", "empty", time.Hour, false)}, //nolint:staticcheck
		},
		"nodes": {
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", CreationTimestamp: metav1.NewTime(now.Add(-26 * time.Hour)),
				Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}},
				Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
					Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
					NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "bosun-v0.1.0", OSImage: "Debian GNU/Linux 12", ContainerRuntimeVersion: "containerd://1.6.20"}}},
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-2", CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
				Spec:   corev1.NodeSpec{Unschedulable: true},
				Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}},
		},
		"leases": {
			&coordinationv1.Lease{ObjectMeta: meta("kube-node-lease", "node-1", 20*time.Second, false)},
		},
	}
}

func TestPrint(t *testing.T) {
	objs := objects()
	tests := []struct {
		name     string
		resource string
		opts     printers.Options
		objs     []api.Object // nil: objs[resource]
	}{
		{name: "deployments", resource: "deployments"},
		{name: "deployments-all", resource: "deployments", opts: printers.Options{AllNamespaces: true}},
		{name: "deployments-wide", resource: "deployments", opts: printers.Options{Format: printers.FormatWide}},
		{name: "replicasets-wide", resource: "replicasets", opts: printers.Options{Format: printers.FormatWide}},
		{name: "replicationcontrollers", resource: "replicationcontrollers"},
		{name: "pods", resource: "pods"},
		{name: "pods-wide-all", resource: "pods", opts: printers.Options{Format: printers.FormatWide, AllNamespaces: true}},
		{name: "services", resource: "services"},
		{name: "services-wide", resource: "services", opts: printers.Options{Format: printers.FormatWide}},
		{name: "configmaps", resource: "configmaps"},
		{name: "secrets", resource: "secrets"},
		{name: "namespaces", resource: "namespaces", opts: printers.Options{AllNamespaces: true}},
		{name: "endpoints", resource: "endpoints"},
		{name: "nodes", resource: "nodes"},
		{name: "nodes-wide", resource: "nodes", opts: printers.Options{Format: printers.FormatWide}},
		{name: "leases", resource: "leases"},
		{name: "no-headers", resource: "configmaps", opts: printers.Options{NoHeaders: true}},
		{name: "empty", resource: "deployments", opts: printers.Options{Namespace: "default"}, objs: []api.Object{}},
		{name: "empty-all", resource: "deployments", opts: printers.Options{AllNamespaces: true}, objs: []api.Object{}},
		{name: "yaml-one", resource: "configmaps", opts: printers.Options{Format: printers.FormatYAML}},
		{name: "yaml-list", resource: "namespaces", opts: printers.Options{Format: printers.FormatYAML}},
		{name: "json-one", resource: "configmaps", opts: printers.Options{Format: printers.FormatJSON}},
		{name: "json-list", resource: "namespaces", opts: printers.Options{Format: printers.FormatJSON}},
		{name: "name", resource: "deployments", opts: printers.Options{Format: printers.FormatName}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list := tc.objs
			if list == nil {
				list = objs[tc.resource]
			}
			opts := tc.opts
			opts.Now = now
			var b bytes.Buffer
			if err := printers.Print(&b, storetest.Resource(t, tc.resource), list, opts); err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", tc.name+".golden"), b.Bytes(), *update)
		})
	}
}

func TestPrintUnknownFormat(t *testing.T) {
	var b bytes.Buffer
	err := printers.Print(&b, storetest.Resource(t, "pods"), nil, printers.Options{Format: "xml"})
	if err == nil || b.Len() != 0 {
		t.Fatalf("format xml: err %v, output %q", err, b.String())
	}
}

func syncFixtures() (applied, rejected, failed state.Attempt) {
	applied = state.Attempt{
		Commit: state.CommitInfo{SHA: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", Author: "Alice", Subject: "Add web", Time: now.Add(-2 * time.Hour)},
		Time:   now.Add(-90 * time.Minute), Result: state.ResultApplied, Created: 3, Updated: 1, Pruned: 2,
	}
	rejected = state.Attempt{
		Commit: state.CommitInfo{SHA: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", Author: "Bob", Subject: "Scale web", Time: now.Add(-10 * time.Minute)},
		Time:   now.Add(-5 * time.Minute), Result: state.ResultRejected, Message: "2 errors in the manifests",
		Problems: []manifests.Problem{
			{File: "apps/web.yaml", Line: 20, Object: "Service default/web", Message: "selects no pod template in the repository", Warning: true},
			{File: "apps/web.yaml", Line: 12, Object: "Deployment default/web", Field: "spec.replicas", Message: "must be greater than or equal to 0"},
			{File: "apps/db.yaml", Line: 4, Message: "unknown field \"spec.replica\""},
		},
	}
	failed = state.Attempt{
		Commit: state.CommitInfo{SHA: "2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c", Author: "Carol", Subject: "Big change"},
		Time:   now.Add(-30 * time.Second), Result: state.ResultFailed,
		Message: "apply: transaction too large: 200000 operations, the limit is 100000",
	}
	return applied, rejected, failed
}

// warnedFixture is an applied attempt with two warnings.
func warnedFixture() state.Attempt {
	applied, _, _ := syncFixtures()
	applied.Commit.SHA = "3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"
	applied.Problems = []manifests.Problem{
		{File: "apps/web.yaml", Line: 20, Object: "Service default/web", Message: "selects no pod template in the repository", Warning: true},
		{File: "apps/web.yaml", Line: 9, Object: "Deployment default/web", Field: "spec.template.spec.containers[0].securityContext.seLinuxOptions", Message: "is not supported and is ignored", Warning: true},
	}
	return applied
}

func TestPrintStatus(t *testing.T) {
	applied, rejected, failed := syncFixtures()
	warned := warnedFixture()
	tests := []struct {
		name string
		st   state.Status
	}{
		{"status-never", state.Status{}},
		{"status-applied", state.Status{Repo: "https://git.example/shop.git", Branch: "main", Path: "deploy", Synced: &applied, LastAttempt: &applied, Objects: 12}},
		{"status-rejected", state.Status{Repo: "https://git.example/shop.git", Branch: "main", Synced: &applied, LastAttempt: &rejected, Objects: 12}},
		{"status-rejected-first", state.Status{Repo: "/srv/repo", LastAttempt: &rejected}},
		{"status-failed", state.Status{Repo: "https://git.example/shop.git", Branch: "main", Synced: &applied, LastAttempt: &failed, Objects: 12}},
		{"status-applied-warnings", state.Status{Repo: "/srv/repo", Synced: &warned, LastAttempt: &warned, Objects: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printers.PrintStatus(&b, tc.st, now); err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", tc.name+".golden"), b.Bytes(), *update)
		})
	}
}

func TestPrintHistory(t *testing.T) {
	applied, rejected, failed := syncFixtures()
	warned := warnedFixture()
	tests := []struct {
		name string
		h    []state.Attempt
	}{
		{"history-empty", nil},
		{"history", []state.Attempt{failed, rejected, warned, applied}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printers.PrintHistory(&b, tc.h, now); err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", tc.name+".golden"), b.Bytes(), *update)
		})
	}
}

func TestPrintRevisions(t *testing.T) {
	v1 := state.CommitInfo{SHA: "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432", Subject: "Add web"}
	v2 := state.CommitInfo{SHA: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", Subject: "web v2"}
	tests := []struct {
		name string
		revs []rollout.Revision
	}{
		{"revisions-empty", nil},
		{"revisions", []rollout.Revision{
			{Revision: 1, ReplicaSet: "web-5d4f8c7b9", Images: []string{"web:v0"}},
			{Revision: 2, ReplicaSet: "web-7c9d8e6f5", Images: []string{"web:v2", "proxy:1.1"}, Created: now.Add(-time.Hour), Commit: &v2},
			{Revision: 4, Earlier: "1,3", Current: true, ReplicaSet: "web-6b8c7d5e4", Images: []string{"web:v1", "proxy:1.1"}, Created: now.Add(-3 * 24 * time.Hour), Commit: &v1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printers.PrintRevisions(&b, tc.revs, now); err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", tc.name+".golden"), b.Bytes(), *update)
		})
	}
}
