package podsecurity

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bosun-dev/bosun/manifests"
)

const commitYAML = `apiVersion: v1
kind: Namespace
metadata:
  name: ops
  labels:
    pod-security.kubernetes.io/enforce: privileged
    pod-security.kubernetes.io/warn: privileged
    pod-security.kubernetes.io/audit: privileged
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: agent
  namespace: ops
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: c, image: nginx}]
      volumes: [{name: root, hostPath: {path: /}}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx}]
      volumes: [{name: root, hostPath: {path: /}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: shell
  namespace: shop
spec:
  containers: [{name: c, image: nginx}]
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: rc
  namespace: shop
spec:
  selector: {app: rc}
  template:
    metadata: {labels: {app: rc}}
    spec:
      containers: [{name: c, image: nginx, securityContext: {privileged: true}}]
---
apiVersion: v1
kind: Namespace
metadata:
  name: typo
  labels:
    pod-security.kubernetes.io/enforce: strict
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  namespace: shop
data: {a: b}
`

func TestCheckObjects(t *testing.T) {
	objs, ps := manifests.Decode("apps/all.yaml", []byte(commitYAML), manifests.Limits{})
	if len(ps.Errors()) > 0 {
		t.Fatalf("decode: %v", ps)
	}
	labels := map[string]map[string]string{
		"ops":  {EnforceLevelLabel: "privileged", WarnLevelLabel: "privileged", AuditLevelLabel: "privileged"},
		"shop": {WarnLevelLabel: "restricted"},
	}
	const shellWarning = `would violate PodSecurity "restricted:latest": ` +
		`allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
		`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
		`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
		`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	tests := []struct {
		name     string
		def      string
		nsLabels func(string) map[string]string
		want     []string
	}{
		{name: "baseline default, labelled namespaces", def: "baseline", nsLabels: func(ns string) map[string]string { return labels[ns] },
			want: []string{
				`apps/all.yaml:23: Deployment default/web: violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`,
				`warning: apps/all.yaml:35: Pod shop/shell: ` + shellWarning,
				`apps/all.yaml:43: ReplicationController shop/rc: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`,
				`apps/all.yaml:55: Namespace typo: metadata.labels[pod-security.kubernetes.io/enforce]: invalid value: "strict": must be one of privileged, baseline, restricted`,
			}},
		{name: "no namespace labels known", def: "baseline", want: []string{
			`apps/all.yaml:10: Deployment ops/agent: violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`,
			`apps/all.yaml:23: Deployment default/web: violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`,
			`apps/all.yaml:43: ReplicationController shop/rc: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`,
			`apps/all.yaml:55: Namespace typo: metadata.labels[pod-security.kubernetes.io/enforce]: invalid value: "strict": must be one of privileged, baseline, restricted`,
		}},
		{name: "privileged default", def: "privileged", nsLabels: func(string) map[string]string { return nil }, want: []string{
			`apps/all.yaml:55: Namespace typo: metadata.labels[pod-security.kubernetes.io/enforce]: invalid value: "strict": must be one of privileged, baseline, restricted`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.def)
			if err != nil {
				t.Fatal(err)
			}
			got := p.CheckObjects(objs, tt.nsLabels)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				if got[i].String() != w {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
			if (got.Err() != nil) != (len(got.Errors()) > 0) {
				t.Errorf("Err() = %v with %d errors", got.Err(), len(got.Errors()))
			}
		})
	}
}

func TestPodSpecOf(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Name: "t"}, Spec: corev1.PodSpec{NodeName: "from-template"}}
	tests := []struct {
		name     string
		obj      runtime.Object
		wantNode string // "" for no pod spec
	}{
		{name: "pod", obj: &corev1.Pod{Spec: corev1.PodSpec{NodeName: "from-pod"}}, wantNode: "from-pod"},
		{name: "deployment", obj: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: tmpl}}, wantNode: "from-template"},
		{name: "replicaset", obj: &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: tmpl}}, wantNode: "from-template"},
		{name: "replicationcontroller", obj: &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &tmpl}}, wantNode: "from-template"},
		{name: "replicationcontroller without template", obj: &corev1.ReplicationController{}},
		{name: "daemonset", obj: &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: tmpl}}, wantNode: "from-template"},
		{name: "statefulset", obj: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: tmpl}}, wantNode: "from-template"},
		{name: "job", obj: &batchv1.Job{Spec: batchv1.JobSpec{Template: tmpl}}, wantNode: "from-template"},
		{name: "cronjob", obj: &batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}, wantNode: "from-template"},
		{name: "configmap", obj: &corev1.ConfigMap{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta, spec := PodSpecOf(tt.obj)
			if tt.wantNode == "" {
				if meta != nil || spec != nil {
					t.Fatalf("PodSpecOf = %v, %v, want nil", meta, spec)
				}
				return
			}
			if meta == nil || spec == nil || spec.NodeName != tt.wantNode {
				t.Fatalf("PodSpecOf = %v, %v, want the spec with node %q", meta, spec, tt.wantNode)
			}
		})
	}
}

const workloadsYAML = `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: logs}
spec:
  selector: {matchLabels: {app: logs}}
  template:
    metadata: {labels: {app: logs}}
    spec:
      containers: [{name: c, image: fluentd}]
      volumes: [{name: varlog, hostPath: {path: /var/log}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      hostPID: true
      containers: [{name: c, image: postgres}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: perl, securityContext: {privileged: true}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: hello}
spec:
  schedule: "@hourly"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: busybox, ports: [{containerPort: 80, hostPort: 8080}]}]
`

// TestCheckObjectsWorkloadKinds checks that the pod templates of
// DaemonSets, StatefulSets, Jobs and CronJobs are enforced like a
// Deployment's.
func TestCheckObjectsWorkloadKinds(t *testing.T) {
	objs, ps := manifests.Decode("apps/workloads.yaml", []byte(workloadsYAML), manifests.Limits{})
	if len(ps.Errors()) > 0 {
		t.Fatalf("decode: %v", ps)
	}
	p, err := New("baseline")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`apps/workloads.yaml:1: DaemonSet default/logs: violates PodSecurity "baseline:latest": hostPath volumes (volume "varlog")`,
		`apps/workloads.yaml:12: StatefulSet default/db: violates PodSecurity "baseline:latest": host namespaces (hostPID=true)`,
		`apps/workloads.yaml:23: Job default/pi: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)`,
		`apps/workloads.yaml:32: CronJob default/hello: violates PodSecurity "baseline:latest": hostPort (container "c" uses hostPort 8080)`,
	}
	got := p.CheckObjects(objs, nil)
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].String() != w {
			t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], w)
		}
	}
}
