package client_test

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/apitest"
	"github.com/bosun-dev/bosun/store/storetest"
)

func TestPodFor(t *testing.T) {
	now := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	st := storetest.StartAt(t, func() time.Time { return now })
	c, err := client.New(apitest.Serve(t, st))
	if err != nil {
		t.Fatal(err)
	}

	sel := func(app string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	}
	deleted := metav1.NewTime(now)
	pod := func(name, app string, phase corev1.PodPhase, deleting bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: map[string]string{"app": app}},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}},
			Status: corev1.PodStatus{Phase: phase}}
		if deleting {
			p.DeletionTimestamp = &deleted
			p.Finalizers = []string{"test/keep"}
		}
		return p
	}
	for _, o := range []struct {
		obj api.Object
		age time.Duration // created this long before the fixed now
	}{
		{&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: appsv1.DeploymentSpec{Selector: sel("web")}}, 0},
		{&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"}, Spec: appsv1.ReplicaSetSpec{Selector: sel("web")}}, 0},
		{&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "idle"}, Spec: appsv1.DeploymentSpec{Selector: sel("idle")}}, 0},
		{&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "pending"}, Spec: appsv1.DeploymentSpec{Selector: sel("pending")}}, 0},
		{&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "noselector"}}, 0},
		{pod("web-old", "web", corev1.PodRunning, false), 3 * time.Hour},
		{pod("web-new", "web", corev1.PodRunning, false), time.Hour},
		{pod("web-newest", "web", corev1.PodPending, false), time.Minute},
		{pod("web-going", "web", corev1.PodRunning, true), 0},
		{pod("pending-b", "pending", corev1.PodPending, false), time.Hour},
		{pod("pending-a", "pending", corev1.PodPending, false), time.Hour},
	} {
		now = time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC).Add(-o.age)
		if err := st.Create(ctx(t), o.obj); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name    string
		ref     string
		want    string
		wantErr string
	}{
		{name: "a pod name", ref: "anything", want: "anything"},
		{name: "pod/NAME", ref: "po/web-old", want: "web-old"},
		{name: "deployment: the newest running pod", ref: "deploy/web", want: "web-new"},
		{name: "replicaset", ref: "rs/web-1", want: "web-new"},
		{name: "none running: newest, then by name", ref: "deploy/pending", want: "pending-a"},
		{name: "no pods", ref: "deploy/idle", wantErr: "deployments idle in namespace shop has no pods"},
		{name: "no selector", ref: "deploy/noselector", wantErr: "has no usable selector"},
		{name: "missing deployment", ref: "deploy/nope", wantErr: `deployments "nope" not found`},
		{name: "no name", ref: "deploy/", wantErr: "want KIND/NAME"},
		{name: "unknown kind", ref: "widget/x", wantErr: `unknown kind "widget"`},
		{name: "kind without pods to pick", ref: "svc/web", wantErr: "not services"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.PodFor(ctx(t), "shop", tt.ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("PodFor(%q) = %q, %v; want an error containing %q", tt.ref, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("PodFor(%q) = %q, %v; want %q", tt.ref, got, err, tt.want)
			}
		})
	}
}
