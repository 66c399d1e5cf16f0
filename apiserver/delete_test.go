package apiserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
)

// TestDeletePodGracefully: deleting a running, bound pod marks it terminating
// (deletionTimestamp now+grace, deletionGracePeriodSeconds) as kube-apiserver
// does; a second delete may only shorten the grace, one with grace 0 (what
// the node agent sends once the containers stopped) removes it; unbound and
// finished pods go at once; a UID precondition that does not match is a 409.
func TestDeletePodGracefully(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, apiserver.Config{Now: func() time.Time { return now }})
	path := func(name string) string { return "/api/v1/namespaces/default/pods/" + name }
	read := func(name string) (*corev1.Pod, bool) {
		var p corev1.Pod
		code, out := e.do("GET", path(name), nil)
		if code == http.StatusNotFound {
			return nil, false
		}
		if err := json.Unmarshal(out, &p); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", name, code, out)
		}
		return &p, true
	}
	grace := func(p *corev1.Pod) int64 {
		if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil {
			t.Fatalf("pod %s is not terminating: %+v", p.Name, p.ObjectMeta)
		}
		return *p.DeletionGracePeriodSeconds
	}

	running := readyPod("running", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr[int64](10) })
	e.create(running)
	if code, out := e.do("DELETE", path("running"), nil); code != http.StatusOK || !strings.Contains(string(out), `"deletionTimestamp"`) {
		t.Fatalf("DELETE of a running pod = %d %s, want 200 with the terminating pod", code, out)
	}
	p, ok := read("running")
	if !ok || grace(p) != 10 || !p.DeletionTimestamp.Time.Equal(now.Add(10*time.Second)) {
		t.Fatalf("after DELETE: exists %v, %+v; want terminating with the spec's 10 s", ok, p)
	}
	if code, out := e.do("DELETE", path("running")+"?gracePeriodSeconds=60", nil); code != http.StatusOK {
		t.Fatalf("second DELETE = %d %s", code, out)
	}
	if p, _ = read("running"); grace(p) != 10 {
		t.Errorf("a longer grace lengthened the deletion: %d s", grace(p))
	}
	if code, _ := e.do("DELETE", path("running"), `{"gracePeriodSeconds":3}`); code != http.StatusOK {
		t.Fatal("shortening DELETE failed")
	}
	if p, _ = read("running"); grace(p) != 3 {
		t.Errorf("grace after a shorter delete = %d, want 3", grace(p))
	}
	code, out := e.do("DELETE", path("running"), `{"gracePeriodSeconds":0,"preconditions":{"uid":"not-the-uid"}}`)
	if code != http.StatusConflict || !strings.Contains(string(out), "Precondition failed: UID in precondition: not-the-uid") {
		t.Fatalf("DELETE with a wrong UID = %d %s, want 409", code, out)
	}
	body := `{"gracePeriodSeconds":0,"preconditions":{"uid":"` + string(p.UID) + `"}}`
	if code, out := e.do("DELETE", path("running"), body); code != http.StatusOK {
		t.Fatalf("DELETE with grace 0 = %d %s", code, out)
	}
	if _, ok := read("running"); ok {
		t.Error("pod still exists after a delete with grace 0")
	}

	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
	}{
		{"unbound", readyPod("unbound", func(p *corev1.Pod) { p.Spec.NodeName = "" })},
		{"succeeded", readyPod("succeeded", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })},
		{"failed", readyPod("failed", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })},
	} {
		e.create(tc.pod)
		if code, out := e.do("DELETE", path(tc.pod.Name), nil); code != http.StatusOK {
			t.Fatalf("DELETE %s = %d %s", tc.name, code, out)
		}
		if _, ok := read(tc.pod.Name); ok {
			t.Errorf("%s pod was not removed at once", tc.name)
		}
	}
}

// TestDeleteTerminatingGitPod: a pod from Git is not deleted through the
// API, but once sync pruned it (terminating), its agent removes it with
// grace 0.
func TestDeleteTerminatingGitPod(t *testing.T) {
	e := newEnv(t, apiserver.Config{})
	pod := readyPod("from-git", func(p *corev1.Pod) {
		p.Labels[api.LabelManagedBy] = api.ManagedByValue
		p.Annotations = map[string]string{api.AnnotationSource: "pods/from-git.yaml:1"}
	})
	e.create(pod)
	path := "/api/v1/namespaces/default/pods/from-git"
	if code, out := e.do("DELETE", path, `{"gracePeriodSeconds":0}`); code != http.StatusMethodNotAllowed || !strings.Contains(string(out), "managed by Git") {
		t.Fatalf("DELETE of a running pod from Git = %d %s, want 405 managed by Git", code, out)
	}
	var p corev1.Pod
	if err := e.st.Get(ctx(t), "default", "from-git", &p); err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	p.DeletionTimestamp = &now // as sync's prune marks it
	if err := e.st.Update(ctx(t), &p); err != nil {
		t.Fatal(err)
	}
	if code, out := e.do("DELETE", path, nil); code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE without grace 0 of a terminating pod from Git = %d %s, want 405", code, out)
	}
	if code, out := e.do("DELETE", path, `{"gracePeriodSeconds":0}`); code != http.StatusOK {
		t.Fatalf("the agent's final DELETE = %d %s, want 200", code, out)
	}
	if err := e.st.Get(ctx(t), "default", "from-git", &p); err == nil {
		t.Error("pod still exists")
	}
}
