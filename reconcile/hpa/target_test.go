package hpa

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
)

func TestTargetsOfEveryScalableKind(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: appLabels}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: appLabels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	meta := metav1.ObjectMeta{Namespace: "default", Name: "web"}
	tests := []struct {
		name    string
		ref     autoscalingv2.CrossVersionObjectReference
		obj     api.Object
		wantErr bool
	}{
		{name: "Deployment", ref: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			obj: &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: sel, Template: tmpl}}},
		{name: "StatefulSet", ref: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web"},
			obj: &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](3), Selector: sel, Template: tmpl}}},
		{name: "ReplicaSet", ref: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web"},
			obj: &appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), Selector: sel, Template: tmpl}}},
		{name: "ReplicationController", ref: autoscalingv2.CrossVersionObjectReference{APIVersion: "v1", Kind: "ReplicationController", Name: "web"},
			obj: &corev1.ReplicationController{ObjectMeta: meta, Spec: corev1.ReplicationControllerSpec{Replicas: ptr.To[int32](3), Selector: appLabels, Template: &tmpl}}},
		{name: "a kind without scale", ref: autoscalingv2.CrossVersionObjectReference{APIVersion: "v1", Kind: "ConfigMap", Name: "web"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.obj != nil {
				e.create(tt.obj)
			}
			tg, err := e.c.getTarget(e.ctx, "default", tt.ref)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error for a kind the HPA cannot scale")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tg.replicas != 3 || tg.selector == nil || !tg.selector.Matches(appLabels) || tg.selector.Matches(labels.Set{"app": "db"}) {
				t.Fatalf("target replicas %d selector %v, want 3 and app=web", tg.replicas, tg.selector)
			}
			if err := e.c.setReplicas(e.ctx, tg, 7); err != nil {
				t.Fatal(err)
			}
			tg, err = e.c.getTarget(e.ctx, "default", tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			if tg.replicas != 7 {
				t.Errorf("replicas after the write %d, want 7", tg.replicas)
			}
		})
	}
}
