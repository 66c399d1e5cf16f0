package apiserver_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/podsecurity"
)

// TestPodSecurityOnAPIWrites: a mirror pod mounting the machine's root is
// refused under the baseline default, as kube-apiserver's PodSecurity
// admission refuses it; in a namespace labelled privileged it is created;
// a namespace that only warns at restricted lets it in with a Warning.
func TestPodSecurityOnAPIWrites(t *testing.T) {
	policy, err := podsecurity.New("baseline")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, apiserver.Config{PodSecurity: policy})
	e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ops", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/warn": "privileged", "pod-security.kubernetes.io/audit": "privileged"}}})
	e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "strict", Labels: map[string]string{
		"pod-security.kubernetes.io/warn": "restricted"}}})
	pod := func(ns, name string, hostPath bool) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{"kubernetes.io/config.mirror": "h"}},
			Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "app:1"}}},
		}
		if hostPath {
			p.Spec.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}
		}
		return p
	}
	code, b := e.do("POST", "/api/v1/namespaces/default/pods", pod("default", "agent", true))
	if st := decodeStatus(t, b); code != 403 || st.Message != `pods "agent" is forbidden: violates PodSecurity "baseline:latest": hostPath volumes (volume "root")` {
		t.Fatalf("hostPath pod in default = %d %q", code, st.Message)
	}
	if code, b := e.do("POST", "/api/v1/namespaces/ops/pods", pod("ops", "agent", true)); code != 201 {
		t.Fatalf("hostPath pod in a privileged namespace = %d %s", code, b)
	}
	body, err := json.Marshal(pod("strict", "web", false))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(e.url+"/api/v1/namespaces/strict/pods", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if warn := strings.Join(resp.Header.Values("Warning"), "\n"); resp.StatusCode != 201 || !strings.Contains(warn, `would violate PodSecurity \"restricted:latest\"`) {
		t.Fatalf("plain pod in a namespace warning at restricted = %d, Warning %q", resp.StatusCode, warn)
	}
}
