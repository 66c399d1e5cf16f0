package apiserver_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
)

const podsPath = "/api/v1/namespaces/default/pods"

func mirrorPod(name string, mirror bool) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: map[string]string{}},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "db", Image: "postgres:16"}}},
	}
	if mirror {
		p.Annotations["kubernetes.io/config.mirror"] = "abc123"
	}
	return p
}

func TestMirrorPodsAreReadOnly(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	// The agent creates the mirror pod.
	m := mirrorPod("db-n1", true)
	if code, b := e.do("POST", podsPath, m); code != 201 {
		t.Fatalf("POST mirror = %d %s", code, b)
	}
	var cur corev1.Pod
	if err := e.st.Get(ctx(t), "default", "db-n1", &cur); err != nil {
		t.Fatal(err)
	}
	want := "pods default/db-n1 is the mirror pod of a static pod on node n1: edit the file in that node's --pod-manifest-path"
	edit := cur.DeepCopy()
	edit.Spec.Containers[0].Image = "postgres:17"
	dropAnn := cur.DeepCopy()
	delete(dropAnn.Annotations, "kubernetes.io/config.mirror")
	for _, tc := range []struct {
		name, method string
		body         any
	}{
		{"PUT a new image", "PUT", edit},
		{"PUT without the annotation", "PUT", dropAnn},
		{"PATCH", "PATCH", `{"spec":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := e.do(tc.method, podsPath+"/db-n1", tc.body)
			st := decodeStatus(t, b)
			if code != 405 || !strings.HasPrefix(st.Message, want) {
				t.Fatalf("%s = %d %q, want 405 %q", tc.method, code, st.Message, want)
			}
		})
	}
	// The status stays writable (the agent reports it).
	st := cur.DeepCopy()
	st.Status.Phase = corev1.PodRunning
	if code, b := e.do("PUT", podsPath+"/db-n1/status", st); code != 200 {
		t.Fatalf("PUT status = %d %s", code, b)
	}
	// A plain pod cannot be turned into a mirror pod.
	plain := mirrorPod("web", false)
	e.create(plain) // as a controller would: through the store
	var pcur corev1.Pod
	if err := e.st.Get(ctx(t), "default", "web", &pcur); err != nil {
		t.Fatal(err)
	}
	pcur.Annotations = map[string]string{"kubernetes.io/config.mirror": "x"}
	if code, b := e.do("PUT", podsPath+"/web", &pcur); code != 403 || !strings.Contains(string(b), "reserved for the mirror pods") {
		t.Fatalf("PUT claiming mirror = %d %s", code, b)
	}
	// Deleting is allowed, as in Kubernetes (the agent recreates it).
	if code, b := e.do("DELETE", podsPath+"/db-n1", nil); code != 200 {
		t.Fatalf("DELETE = %d %s", code, b)
	}
}
