package podmanager_test

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/nodeagent/podmanager"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
)

func pod(name, uid, rv string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(uid), ResourceVersion: rv}}
}

func mirror(name, uid, rv, staticUID string) *corev1.Pod {
	p := pod(name, uid, rv)
	p.Annotations = map[string]string{staticpods.AnnotationConfigMirror: staticUID}
	return p
}

// recorder collects the notified keys.
type recorder struct{ keys []string }

func (r *recorder) notify(k string) { r.keys = append(r.keys, k) }

func (r *recorder) take() []string {
	k := r.keys
	r.keys = nil
	slices.Sort(k)
	return k
}

func TestAPIPods(t *testing.T) {
	rec := &recorder{}
	listed := 0
	m := podmanager.New(podmanager.Config{Notify: rec.notify, Listed: func(int) { listed++ }})
	if d := m.Get("u1"); d.Synced || d.Pod != nil {
		t.Fatalf("before a list: %+v", d)
	}
	m.SetPods([]*corev1.Pod{pod("a", "u1", "5"), pod("b", "u2", "6"), mirror("s-n1", "m1", "7", "s1")})
	if got := rec.take(); !slices.Equal(got, []string{podmanager.MirrorKey("default", "s-n1"), "u1", "u2"}) {
		t.Errorf("keys after the first list = %v", got)
	}
	if listed != 1 || !m.Synced() {
		t.Errorf("listed %d times, synced %v", listed, m.Synced())
	}
	if m.Known("m1") {
		t.Error("a mirror pod is a pod to run")
	}

	for _, tc := range []struct {
		name   string
		do     func()
		uid    string
		wantRV string // of Get(uid).Pod; "" = no pod
		gone   bool
		keys   []string
	}{
		{"an older update is ignored", func() { m.UpsertPod(pod("a", "u1", "4")) }, "u1", "5", false, []string{"u1"}},
		{"a newer update wins", func() { m.UpsertPod(pod("a", "u1", "8")) }, "u1", "8", false, []string{"u1"}},
		{"a status write's pod is kept", func() { m.StorePod(pod("a", "u1", "9")) }, "u1", "9", false, nil},
		{"a relist older than the write keeps the write; a mirror missing is looked at", func() {
			m.SetPods([]*corev1.Pod{pod("a", "u1", "8"), pod("b", "u2", "6")})
		}, "u1", "9", false, []string{podmanager.MirrorKey("default", "s-n1"), "u1", "u2"}},
		{"StorePod does not add a pod", func() { m.StorePod(pod("c", "u3", "10")) }, "u3", "", false, nil},
		{"a deleted pod is gone", func() { m.DeletePod(pod("b", "u2", "11")) }, "u2", "", true, []string{"u2"}},
		{"a pod missing from a relist is gone", func() { m.SetPods(nil) }, "u1", "", true, []string{"u1"}},
		{"a pod that comes back is not gone", func() { m.UpsertPod(pod("a", "u1", "12")) }, "u1", "12", false, []string{"u1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.do()
			d := m.Get(tc.uid)
			switch {
			case tc.wantRV == "" && d.Pod != nil:
				t.Errorf("pod %s at rv %s, want none", tc.uid, d.Pod.ResourceVersion)
			case tc.wantRV != "" && (d.Pod == nil || d.Pod.ResourceVersion != tc.wantRV):
				t.Errorf("pod %s = %v, want rv %s", tc.uid, d.Pod, tc.wantRV)
			}
			if (d.Gone != nil) != tc.gone {
				t.Errorf("gone = %v, want %v", d.Gone, tc.gone)
			}
			if got := rec.take(); !slices.Equal(got, tc.keys) {
				t.Errorf("keys = %v, want %v", got, tc.keys)
			}
		})
	}
	if listed != 1 {
		t.Errorf("Listed called %d times, want once", listed)
	}

	// Teardown: the drain clock starts once, and is forgotten with the pod.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if at := m.GoneSince("u2", t0); !at.Equal(t0) {
		t.Errorf("GoneSince = %v", at)
	}
	if at := m.GoneSince("u2", t0.Add(time.Minute)); !at.Equal(t0) {
		t.Errorf("GoneSince moved to %v", at)
	}
	m.TornDown("u2")
	if d := m.Get("u2"); d.Gone != nil {
		t.Errorf("after teardown: gone %v", d.Gone)
	}
	if at := m.GoneSince("u2", t0.Add(time.Hour)); !at.Equal(t0.Add(time.Hour)) {
		t.Errorf("GoneSince after teardown = %v", at)
	}
}

func TestStaticPodsAndMirrors(t *testing.T) {
	rec := &recorder{}
	m := podmanager.New(podmanager.Config{Notify: rec.notify})
	s1 := pod("db-n1", "s1", "")
	m.SetStaticPods([]*corev1.Pod{s1})
	if got := rec.take(); !slices.Equal(got, []string{"s1"}) {
		t.Errorf("keys = %v", got)
	}
	if d := m.Get("s1"); d.Pod != s1 || !d.Static || d.Synced {
		t.Errorf("static pod: %+v", d)
	}
	// The computed status is kept, also across a reread of the same file.
	st := corev1.PodStatus{Phase: corev1.PodRunning}
	if p := m.SetStaticStatus("s1", st); p == nil || p.Status.Phase != corev1.PodRunning {
		t.Fatalf("SetStaticStatus = %v", p)
	}
	m.SetStaticPods([]*corev1.Pod{pod("db-n1", "s1", "")})
	rec.take()
	if d := m.Get("s1"); d.Pod.Status.Phase != corev1.PodRunning {
		t.Errorf("status lost on a reread: %+v", d.Pod.Status)
	}
	if p, ok := m.Lookup("default", "db-n1"); !ok || p.UID != "s1" || p == m.Get("s1").Pod {
		t.Errorf("Lookup = %v, %v (want a copy of the static pod)", p, ok)
	}

	// The first list brings the mirror: the static pod is notified, so that
	// its status reaches the mirror.
	mp := mirror("db-n1", "m1", "3", "s1")
	m.SetPods([]*corev1.Pod{mp})
	if got := rec.take(); !slices.Equal(got, []string{podmanager.MirrorKey("default", "db-n1"), "s1"}) {
		t.Errorf("keys = %v", got)
	}
	if got, sp := m.Mirror("default/db-n1"); got != mp || sp == nil || sp.UID != "s1" {
		t.Errorf("Mirror = %v, %v", got, sp)
	}
	m.StorePod(mirror("db-n1", "m1", "4", "s1"))
	if got, _ := m.Mirror("default/db-n1"); got.ResourceVersion != "4" {
		t.Errorf("mirror after a status write at rv %s, want 4", got.ResourceVersion)
	}
	m.DeletePod(mp) // deleted through the API: the static pod's worker recreates it
	if got := rec.take(); !slices.Equal(got, []string{"s1"}) {
		t.Errorf("keys = %v", got)
	}
	if got, _ := m.Mirror("default/db-n1"); got != nil {
		t.Errorf("mirror after delete = %v", got)
	}

	// The file changes: the old pod is gone (until torn down), and its mirror looked at.
	m.UpsertPod(mp)
	rec.take()
	m.SetStaticPods([]*corev1.Pod{pod("db-n1", "s2", "")})
	if got := rec.take(); !slices.Equal(got, []string{podmanager.MirrorKey("default", "db-n1"), "s1", "s2"}) {
		t.Errorf("keys = %v", got)
	}
	if d := m.Get("s1"); d.Pod != nil || d.StaticGone == nil {
		t.Errorf("old static pod: %+v", d)
	}
	m.TornDown("s1")
	if d := m.Get("s1"); d.StaticGone != nil {
		t.Errorf("old static pod after teardown: %+v", d)
	}
	// A mirror without a static pod is notified by its own key.
	m.SetStaticPods(nil)
	rec.take()
	m.UpsertPod(mirror("db-n1", "m1", "5", "s2"))
	if got := rec.take(); !slices.Equal(got, []string{podmanager.MirrorKey("default", "db-n1")}) {
		t.Errorf("keys = %v", got)
	}
	got, _ := m.Mirror("default/db-n1")
	m.MirrorDeleted(got)
	if got, _ := m.Mirror("default/db-n1"); got != nil {
		t.Errorf("mirror after MirrorDeleted = %v", got)
	}
}

func TestKeys(t *testing.T) {
	k := podmanager.MirrorKey("kube-system", "etcd-n1")
	if got, ok := podmanager.ParseMirrorKey(k); !ok || got != "kube-system/etcd-n1" {
		t.Errorf("ParseMirrorKey(%q) = %q, %v", k, got, ok)
	}
	if _, ok := podmanager.ParseMirrorKey("0f8e-uid"); ok {
		t.Error("a UID parsed as a mirror key")
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"10", "9", true}, {"9", "10", false}, {"5", "5", false}, {"x", "1", false}, {"1", "", true}} {
		if got := podmanager.NewerRV(tc.a, tc.b); got != tc.want {
			t.Errorf("NewerRV(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
