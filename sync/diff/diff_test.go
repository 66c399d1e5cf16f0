package diff_test

import (
	"bytes"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/sync/diff"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const deployV1 = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  annotations:
    team: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: bosun.local/hello:v1
`

const serviceV1 = `apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`

const configV1 = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
data:
  color: blue
`

const secretV1 = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: default
stringData:
  password: hunter2
`

// decode returns the objects of YAML documents as sync/apply would read them.
func decode(t *testing.T, file, data string) []manifests.Object {
	t.Helper()
	objs, ps := manifests.Decode(file, []byte(data), manifests.Limits{})
	if err := ps.Err(); err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	return objs
}

// live turns manifests into objects as they look in the store after a sync
// and the control plane's work: bosun's label and annotations, system
// metadata, status, a Deployment revision annotation, an allocated
// clusterIP and nodePort.
func live(t *testing.T, file, data string) []api.Object {
	t.Helper()
	var out []api.Object
	for _, o := range diff.Desired(decode(t, file, data)) {
		l := o.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[api.LabelManagedBy] = api.ManagedByValue
		o.SetLabels(l)
		an := o.GetAnnotations()
		an[api.AnnotationCommit] = "0123456789abcdef0123456789abcdef01234567"
		o.SetAnnotations(an)
		o.SetUID("a-uid")
		o.SetResourceVersion("42")
		o.SetGeneration(2)
		o.SetCreationTimestamp(metav1.Unix(1700000000, 0))
		switch x := o.(type) {
		case *appsv1.Deployment:
			x.Annotations["deployment.kubernetes.io/revision"] = "2"
			x.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, ReadyReplicas: 3}
		case *corev1.Service:
			x.Spec.ClusterIP = "10.96.0.10"
			x.Spec.ClusterIPs = []string{"10.96.0.10"}
			for i := range x.Spec.Ports {
				x.Spec.Ports[i].NodePort = 30080
			}
		}
		out = append(out, o)
	}
	return out
}

func TestObjects(t *testing.T) {
	nodePortV1 := strings.Replace(serviceV1, "spec:\n", "spec:\n  type: NodePort\n", 1)
	tests := []struct {
		name         string
		live, wanted string
		want         []string // "op Kind ns/name [rollout]"
	}{
		{name: "no change", live: deployV1 + "---\n" + serviceV1 + "---\n" + configV1, wanted: deployV1 + "---\n" + serviceV1 + "---\n" + configV1},
		{name: "allocated nodePort kept", live: nodePortV1, wanted: nodePortV1},
		{name: "added", live: configV1, wanted: configV1 + "---\n" + deployV1,
			want: []string{"added Deployment default/web rollout"}},
		{name: "pruned", live: configV1 + "---\n" + serviceV1, wanted: configV1,
			want: []string{"pruned Service default/web"}},
		{name: "config data changed", live: configV1, wanted: strings.Replace(configV1, "blue", "green", 1),
			want: []string{"changed ConfigMap default/settings"}},
		{name: "image changed rolls out", live: deployV1, wanted: strings.Replace(deployV1, ":v1", ":v2", 1),
			want: []string{"changed Deployment default/web rollout"}},
		{name: "replicas changed does not roll out", live: deployV1, wanted: strings.Replace(deployV1, "replicas: 3", "replicas: 5", 1),
			want: []string{"changed Deployment default/web"}},
		{name: "user annotation changed", live: deployV1, wanted: strings.Replace(deployV1, "team: web", "team: ops", 1),
			want: []string{"changed Deployment default/web"}},
		{name: "explicit clusterIP differs", live: serviceV1, wanted: strings.Replace(serviceV1, "spec:\n", "spec:\n  clusterIP: 10.96.0.99\n", 1),
			want: []string{"changed Service default/web"}},
		{name: "secret value changed", live: secretV1, wanted: strings.Replace(secretV1, "hunter2", "hunter3", 1),
			want: []string{"changed Secret default/db"}},
		{name: "namespace defaulted", live: configV1, wanted: strings.Replace(configV1, "  namespace: default\n", "", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes, err := diff.Objects(live(t, "old.yaml", tt.live), diff.Desired(decode(t, "new.yaml", tt.wanted)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range changes {
				s := string(c.Op) + " " + c.ID()
				if c.RollsOut {
					s += " rollout"
				}
				got = append(got, s)
				if (c.Op == diff.Added) != (c.Live == nil) || (c.Op == diff.Pruned) != (c.Desired == nil) {
					t.Errorf("%s: Live/Desired set wrongly: %q / %q", s, c.Live, c.Desired)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestNormalizeDropsWhatSyncDoesNotOwn(t *testing.T) {
	o := live(t, "web.yaml", deployV1)[0]
	m, err := diff.Normalize(o)
	if err != nil {
		t.Fatal(err)
	}
	md := m["metadata"].(map[string]any)
	for _, k := range []string{"uid", "resourceVersion", "generation", "creationTimestamp"} {
		if _, ok := md[k]; ok {
			t.Errorf("metadata.%s kept", k)
		}
	}
	if _, ok := md["labels"]; ok {
		t.Errorf("labels kept although only bosun's label is set: %v", md["labels"])
	}
	an := md["annotations"].(map[string]any)
	if an[api.AnnotationCommit] != nil || an[api.AnnotationSource] != nil || an["team"] != "web" {
		t.Errorf("annotations = %v", an)
	}
	if _, ok := m["status"]; ok {
		t.Error("status kept")
	}
	if m["apiVersion"] != "apps/v1" || m["kind"] != "Deployment" {
		t.Errorf("type = %v %v", m["apiVersion"], m["kind"])
	}
}

func TestSecretsRedacted(t *testing.T) {
	changes, err := diff.Objects(live(t, "s.yaml", secretV1), diff.Desired(decode(t, "s.yaml", strings.Replace(secretV1, "hunter2", "hunter3", 1))))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := diff.Render(&b, changes, "pr"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "hunter") || strings.Count(out, "<redacted value ") != 2 {
		t.Errorf("secret not redacted, or the change not shown:\n%s", out)
	}
	// The same value on both sides: no change at all.
	same, err := diff.Objects(live(t, "s.yaml", secretV1), diff.Desired(decode(t, "s.yaml", secretV1)))
	if err != nil {
		t.Fatal(err)
	}
	if len(same) != 0 {
		t.Errorf("an unchanged Secret shows as changed: %+v", same)
	}
}

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name         string
		live, wanted string
	}{
		{name: "no-change", live: configV1, wanted: configV1},
		{name: "all", live: deployV1 + "---\n" + serviceV1,
			wanted: strings.NewReplacer(":v1", ":v2", "replicas: 3", "replicas: 4").Replace(deployV1) + "---\n" + configV1},
		{name: "scale-only", live: deployV1, wanted: strings.Replace(deployV1, "replicas: 3", "replicas: 1", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes, err := diff.Objects(live(t, "deploy/app.yaml", tt.live), diff.Desired(decode(t, "deploy/app.yaml", tt.wanted)))
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := diff.Render(&b, changes, "feature (1a2b3c4d)"); err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, filepath.Join("testdata", tt.name+".golden"), b.Bytes(), *update)
		})
	}
}

func TestUnified(t *testing.T) {
	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	tests := []struct {
		name string
		a, b string
		want string
	}{
		{name: "equal", a: lines("a", "b"), b: lines("a", "b"), want: ""},
		{name: "one line changed", a: lines("1", "2", "3", "4", "5", "6", "7", "8"), b: lines("1", "2", "3", "4", "X", "6", "7", "8"),
			want: lines("@@ -2,7 +2,7 @@", " 2", " 3", " 4", "-5", "+X", " 6", " 7", " 8")},
		{name: "added at end", a: lines("a"), b: lines("a", "b"), want: lines("@@ -1 +1,2 @@", " a", "+b")},
		{name: "from empty", a: "", b: lines("a", "b"), want: lines("@@ -0,0 +1,2 @@", "+a", "+b")},
		{name: "two hunks", a: lines("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"),
			b:    lines("X", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "Y"),
			want: lines("@@ -1,4 +1,4 @@", "-1", "+X", " 2", " 3", " 4", "@@ -9,4 +9,4 @@", " 9", " 10", " 11", "-12", "+Y")},
		{name: "close changes merge", a: lines("1", "2", "3", "4", "5"), b: lines("X", "2", "3", "4", "Y"),
			want: lines("@@ -1,5 +1,5 @@", "-1", "+X", " 2", " 3", " 4", "-5", "+Y")},
		{name: "removed middle", a: lines("a", "b", "c"), b: lines("a", "c"), want: lines("@@ -1,3 +1,2 @@", " a", "-b", " c")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := diff.Unified(tt.a, tt.b, 3); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
