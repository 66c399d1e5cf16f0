package nodeagent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/nodeagent/podmanager"
	"github.com/bosun-dev/bosun/nodeagent/staticpods"
)

var eventsResource = mustResource("events")

// syncMirror deletes a mirror pod whose static pod is gone. A mirror of a
// static pod that exists is the static pod's sync's business.
func (s *podSyncer) syncMirror(ctx context.Context, key string) error {
	m, sp := s.pods.Mirror(key)
	switch {
	case sp != nil:
		s.notify(string(sp.UID))
		return nil
	case m == nil || !s.pods.Synced():
		return nil
	}
	if err := s.deleteNow(ctx, m); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("nodeagent: delete the mirror pod %s of a static pod that is gone: %w", key, err)
	}
	s.log.Info("mirror pod deleted: its static pod is gone", "pod", key)
	s.pods.MirrorDeleted(m)
	return nil
}

// mirrorStatus shows the status of a static pod on its mirror pod in the
// API, creating (or replacing) the mirror as needed; the status manager
// writes the status. Mirrors wait for the API's pod list. The API being
// unreachable is an error (retried) but does not hold the pod back.
func (s *podSyncer) mirrorStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) error {
	if !s.pods.Synced() {
		return nil
	}
	uid, key := string(pod.UID), podmanager.ObjKey(pod)
	m, _ := s.pods.Mirror(key)
	// An outdated mirror, or one deleted through the API (terminating: the
	// static pod runs on regardless), is replaced, as kubelet does.
	if m != nil && (m.Annotations[staticpods.AnnotationConfigMirror] != uid || m.DeletionTimestamp != nil) {
		if err := s.deleteNow(ctx, m); err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("nodeagent: static pod %s: replace its outdated mirror pod: %w", key, err)
		}
		s.pods.MirrorDeleted(m)
		m = nil
	}
	if m == nil {
		mp := staticpods.Mirror(pod, s.node.Node())
		if err := s.c.Create(ctx, podsResource, mp); err != nil {
			return fmt.Errorf("nodeagent: static pod %s: create its mirror pod: %w", key, err)
		}
		s.log.Info("mirror pod created", "pod", key)
		s.pods.StorePod(mp)
		m = mp
	}
	s.status.SetPodStatus(m, status)
	return nil
}

// deleteNow removes a pod from the API at once (grace period 0), if it is
// still the same pod at the same resourceVersion: mirror pods, which run
// nothing, are not terminated gracefully.
func (s *podSyncer) deleteNow(ctx context.Context, pod *corev1.Pod) error {
	zero, uid, rv := int64(0), pod.UID, pod.ResourceVersion
	pre := &metav1.Preconditions{UID: &uid}
	if rv != "" {
		pre.ResourceVersion = &rv
	}
	return s.c.DeleteWithOptions(ctx, podsResource, pod.Namespace, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: pre})
}

// badManifestEvent records a Warning Event on the Node about a static pod
// file that cannot be used (the log has it too).
func (r *nodeReporter) badManifestEvent(file string, err error) {
	ref := corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: r.cfg.NodeName}
	if node := r.Node(); node != nil {
		ref = events.Ref(node)
	}
	r.rec.Eventf(ref, corev1.EventTypeWarning, "InvalidStaticPodManifest", "static pod manifest %s: %v", file, err)
}
