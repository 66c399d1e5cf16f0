package nodeagent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
)

// mirrorKeyPrefix prefixes the work queue keys of mirror pods
// ("mirror/<namespace>/<name>"); other keys are pod UIDs.
const mirrorKeyPrefix = "mirror/"

var eventsResource = mustResource("events")

func objKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// setStaticPods replaces the set of static pods (the file source's handler).
func (a *Agent) setStaticPods(pods []*corev1.Pod) {
	a.mu.Lock()
	fresh := make(map[string]*corev1.Pod, len(pods))
	var keys []string
	for _, p := range pods {
		uid := string(p.UID)
		if old, ok := a.static[uid]; ok {
			p = old // same content: keep the status computed so far
		}
		fresh[uid] = p
		delete(a.staticGone, uid)
		keys = append(keys, uid)
	}
	for uid, old := range a.static {
		if _, ok := fresh[uid]; !ok {
			a.staticGone[uid] = old
			keys = append(keys, uid, mirrorKeyPrefix+objKey(old))
		}
	}
	a.static = fresh
	q := a.queue
	a.mu.Unlock()
	a.log.Info("static pods read", "pods", len(pods))
	for _, k := range keys {
		q.Add(k)
	}
}

// staticByKey returns the static pod of that namespace/name. Callers hold a.mu.
func (a *Agent) staticByKey(key string) *corev1.Pod {
	for _, p := range a.static {
		if objKey(p) == key {
			return p
		}
	}
	return nil
}

// mirrorChanged records a mirror pod event of the API and asks for the
// static pod (or, without one, the mirror) to be looked at.
func (a *Agent) mirrorChanged(m *corev1.Pod, deleted bool) {
	key := objKey(m)
	a.mu.Lock()
	old := a.mirrors[key]
	switch {
	case deleted:
		if old != nil && old.UID == m.UID {
			delete(a.mirrors, key)
		}
	case old == nil || old.UID != m.UID || newerRV(m.ResourceVersion, old.ResourceVersion):
		a.mirrors[key] = m
	}
	sp := a.staticByKey(key)
	q := a.queue
	a.mu.Unlock()
	if sp != nil {
		q.Add(string(sp.UID))
	} else {
		q.Add(mirrorKeyPrefix + key)
	}
}

// storeMirror keeps a mirror pod the API returned.
func (a *Agent) storeMirror(m *corev1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := objKey(m)
	if old := a.mirrors[key]; old == nil || old.UID != m.UID || newerRV(m.ResourceVersion, old.ResourceVersion) {
		a.mirrors[key] = m
	}
}

// syncMirror deletes a mirror pod whose static pod is gone. A mirror of a
// static pod that exists is the static pod's sync's business.
func (a *Agent) syncMirror(ctx context.Context, key string) error {
	a.mu.Lock()
	m, sp, synced := a.mirrors[key], a.staticByKey(key), a.synced
	q := a.queue
	a.mu.Unlock()
	switch {
	case sp != nil:
		q.Add(string(sp.UID))
		return nil
	case m == nil || !synced:
		return nil
	}
	if err := a.c.Delete(ctx, podsResource, m.Namespace, m.Name, m.ResourceVersion); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("nodeagent: delete the mirror pod %s of a static pod that is gone: %w", key, err)
	}
	a.log.Info("mirror pod deleted: its static pod is gone", "pod", key)
	a.mu.Lock()
	if a.mirrors[key] == m {
		delete(a.mirrors, key)
	}
	a.mu.Unlock()
	return nil
}

// writeStaticStatus keeps the computed status of a static pod locally and
// shows it on the pod's mirror in the API, creating (or replacing) the
// mirror as needed. The API being unreachable is an error (retried) but
// does not hold the pod back.
func (a *Agent) writeStaticStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) (*corev1.Pod, error) {
	uid := string(pod.UID)
	a.mu.Lock()
	if cur := a.static[uid]; cur != nil {
		cp := *cur
		cp.Status = status
		a.static[uid] = &cp
		pod = &cp
	}
	key := objKey(pod)
	m, node, synced := a.mirrors[key], a.node, a.synced
	a.mu.Unlock()
	if !synced {
		return pod, nil // mirrors wait for the API's pod list
	}
	if m != nil && m.Annotations[staticpods.AnnotationConfigMirror] != uid {
		if err := a.c.Delete(ctx, podsResource, m.Namespace, m.Name, m.ResourceVersion); err != nil && !client.IsNotFound(err) {
			return pod, fmt.Errorf("nodeagent: static pod %s: replace its outdated mirror pod: %w", key, err)
		}
		a.mu.Lock()
		if a.mirrors[key] == m {
			delete(a.mirrors, key)
		}
		a.mu.Unlock()
		m = nil
	}
	if m == nil {
		mp := staticpods.Mirror(pod, node)
		if err := a.c.Create(ctx, podsResource, mp); err != nil {
			return pod, fmt.Errorf("nodeagent: static pod %s: create its mirror pod: %w", key, err)
		}
		a.log.Info("mirror pod created", "pod", key)
		a.storeMirror(mp)
		m = mp
	}
	if sameJSON(m.Status, status) {
		return pod, nil
	}
	for try := 0; ; try++ {
		out := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion},
			Status:     status,
		}
		err := a.c.UpdateStatus(ctx, podsResource, out)
		if err == nil {
			a.storeMirror(out)
			return pod, nil
		}
		if !client.IsConflict(err) || try > 0 {
			if client.IsNotFound(err) {
				return pod, nil // deleted meanwhile: the watch brings it back
			}
			return pod, fmt.Errorf("nodeagent: static pod %s: write the status of its mirror pod: %w", key, err)
		}
		fresh, err := a.c.Get(ctx, podsResource, m.Namespace, m.Name)
		if err != nil {
			if client.IsNotFound(err) {
				return pod, nil
			}
			return pod, fmt.Errorf("nodeagent: static pod %s: read its mirror pod after a conflict: %w", key, err)
		}
		fp, ok := fresh.(*corev1.Pod)
		if !ok || fp.UID != m.UID {
			return pod, nil
		}
		a.storeMirror(fp)
		m = fp
	}
}

// badManifestEvent posts a Warning Event on the Node about a static pod
// file that cannot be used (best effort: the log has it anyway).
func (a *Agent) badManifestEvent(ctx context.Context, file string, err error) {
	a.mu.Lock()
	node := a.node
	a.mu.Unlock()
	now := metav1.NewTime(a.clk.Now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: metav1.NamespaceDefault,
			Name: fmt.Sprintf("%s.%x", a.cfg.NodeName, now.UnixNano())},
		InvolvedObject: corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: a.cfg.NodeName},
		Reason:         "InvalidStaticPodManifest",
		Message:        fmt.Sprintf("static pod manifest %s: %v", file, err),
		Type:           corev1.EventTypeWarning,
		Source:         corev1.EventSource{Component: "bosun-agent", Host: a.cfg.NodeName},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	if node != nil {
		ev.InvolvedObject.UID = node.UID
	}
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.c.Create(ctx, eventsResource, ev); err != nil {
			a.log.Debug("posting the event about a bad static pod manifest failed", "error", err)
		}
	}()
}
