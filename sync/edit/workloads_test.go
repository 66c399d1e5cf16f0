package edit_test

import (
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/sync/edit"
	"github.com/bosun-dev/bosun/sync/gitwrite"
)

// workloadsYAML holds one object of each kind with a pod template but no
// Deployment.
const workloadsYAML = `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: postgres:16
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: logs}
spec:
  selector: {matchLabels: {app: logs}}
  template:
    metadata: {labels: {app: logs}}
    spec:
      containers:
      - name: fluentd
        image: fluentd:v1
---
apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: perl:5.34.0
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
          containers:
          - name: hello
            image: busybox:1.28
`

// workloadObjects decodes workloadsYAML as sync stores it, keyed for the
// objects Getter.
func workloadObjects(t *testing.T) objects {
	t.Helper()
	objs, probs := manifests.Decode("apps/web.yaml", []byte(workloadsYAML), manifests.Limits{})
	if err := probs.Err(); err != nil {
		t.Fatal(err)
	}
	get := objects{}
	for _, o := range objs {
		obj := o.Obj.(api.Object)
		obj.SetLabels(map[string]string{api.LabelManagedBy: api.ManagedByValue})
		obj.SetAnnotations(map[string]string{api.AnnotationSource: "apps/web.yaml:1"})
		r, err := api.ResourceOf(obj)
		if err != nil {
			t.Fatal(err)
		}
		get[r.Name+"/default/"+obj.GetName()] = obj
	}
	return get
}

func TestScaleWorkloadKinds(t *testing.T) {
	get := workloadObjects(t)
	tests := []struct {
		ref     string
		wantErr string
	}{
		{"sts/db", ""},
		{"ds/logs", "a DaemonSet runs one pod on each eligible node and has no replicas to scale"},
		{"job/pi", "a Job has no replicas to scale; change spec.parallelism"},
		{"cronjob/hello", "a CronJob has no replicas to scale"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			_, err := edit.Find(t.Context(), get, tt.ref, "default", edit.ScaleKinds()...)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}

	r := newRepo(t)
	r.commit("workloads", workloadsYAML)
	w := r.writer()
	sts, err := edit.Find(t.Context(), get, "sts/db", "default", edit.ScaleKinds()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edit.Scale(t.Context(), w, sts, 5, gitwrite.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	subject, file := r.head()
	if want := strings.Replace(workloadsYAML, "replicas: 3", "replicas: 5", 1); file != want || subject != "Scale StatefulSet default/db to 5 replicas" {
		t.Errorf("commit %q, file:\n%s", subject, file)
	}
	ds, err := edit.Find(t.Context(), get, "ds/logs", "default", edit.ImageKinds()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := edit.Scale(t.Context(), w, ds, 2, gitwrite.PushOptions{}); err == nil || !strings.Contains(err.Error(), "has no replicas") {
		t.Errorf("Scale of a DaemonSet: err = %v", err)
	}
	if s, _ := r.head(); s != subject {
		t.Errorf("refused scale committed %q", s)
	}
}

func TestSetImagesWorkloadKinds(t *testing.T) {
	get := workloadObjects(t)
	r := newRepo(t)
	r.commit("workloads", workloadsYAML)
	w := r.writer()
	want := workloadsYAML
	for _, tt := range []struct {
		ref, container, from, to string
	}{
		{"sts/db", "db", "postgres:16", "postgres:17"},
		{"ds/logs", "fluentd", "fluentd:v1", "fluentd:v2"},
		{"job/pi", "pi", "perl:5.34.0", "perl:5.40.0"},
		{"cronjob/hello", "hello", "busybox:1.28", "busybox:1.36"},
	} {
		t.Run(tt.ref, func(t *testing.T) {
			target, err := edit.Find(t.Context(), get, tt.ref, "default", edit.ImageKinds()...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := edit.SetImages(t.Context(), w, target, []edit.Image{{Container: tt.container, Image: tt.to}}, gitwrite.PushOptions{}); err != nil {
				t.Fatal(err)
			}
			want = strings.Replace(want, tt.from, tt.to, 1)
			if _, file := r.head(); file != want {
				t.Errorf("file:\n%s\nwant:\n%s", file, want)
			}
		})
	}
}
