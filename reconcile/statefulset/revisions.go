package statefulset

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/bosun-dev/bosun/api"
)

// LabelHash is the ControllerRevision label holding its hash, as Kubernetes.
const LabelHash = "controller.kubernetes.io/hash"

// maxCollisions bounds the hash collisions one pass resolves.
const maxCollisions = 10

// syncState is what one pass over a set knows.
type syncState struct {
	set       *appsv1.StatefulSet
	key       string
	pods      []*corev1.Pod
	revisions []*appsv1.ControllerRevision // owned by set, by revision number
	current   *appsv1.ControllerRevision
	update    *appsv1.ControllerRevision
	// currentTemplate is the pod template of current.
	currentTemplate *corev1.PodTemplateSpec
	collisionCount  int32
}

// revisionData is what a ControllerRevision of set stores: a patch that
// replaces the pod template, as Kubernetes stores it.
func revisionData(set *appsv1.StatefulSet) ([]byte, error) {
	raw, err := json.Marshal(set.Spec.Template)
	if err != nil {
		return nil, fmt.Errorf("statefulset: %s/%s: encode spec.template: %w", set.Namespace, set.Name, err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, fmt.Errorf("statefulset: %s/%s: encode spec.template: %w", set.Namespace, set.Name, err)
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// templateOf decodes the pod template a revision stores.
func templateOf(rev *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var patch struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &patch); err != nil {
		return nil, fmt.Errorf("statefulset: controllerrevision %s/%s: decode data: %w", rev.Namespace, rev.Name, err)
	}
	return &patch.Spec.Template, nil
}

// hashOf is the name suffix of a revision with data: FNV-32a of the data
// and the collision count, encoded as Kubernetes encodes its hashes.
func hashOf(data []byte, collisionCount int32) string {
	h := fnv.New32a()
	h.Write(data)
	if collisionCount != 0 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], uint32(collisionCount))
		h.Write(b[:])
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// loadRevisions finds (or creates) the update revision of s.set's template
// and its current revision.
func (c *Controller) loadRevisions(ctx context.Context, s *syncState) error {
	set := s.set
	for _, obj := range c.revisions.ByIndex("ownerUID", string(set.UID)) {
		rev := obj.(*appsv1.ControllerRevision)
		if ref := metav1.GetControllerOfNoCopy(rev); ref != nil && ref.UID == set.UID && rev.Namespace == set.Namespace {
			s.revisions = append(s.revisions, rev)
		}
	}
	slices.SortFunc(s.revisions, func(a, b *appsv1.ControllerRevision) int { return int(a.Revision - b.Revision) })
	if set.Status.CollisionCount != nil {
		s.collisionCount = *set.Status.CollisionCount
	}
	data, err := revisionData(set)
	if err != nil {
		return err
	}
	if s.update, err = c.updateRevision(ctx, s, data); err != nil {
		return err
	}
	s.current = s.update
	for _, rev := range s.revisions {
		if rev.Name == set.Status.CurrentRevision {
			s.current = rev
		}
	}
	s.currentTemplate, err = templateOf(s.current)
	return err
}

// nextRevision is the revision number after the newest of s.
func (s *syncState) nextRevision() int64 {
	if len(s.revisions) == 0 {
		return 1
	}
	return s.revisions[len(s.revisions)-1].Revision + 1
}

// updateRevision returns the revision holding data: the newest if it does,
// an older one renumbered as the newest (a rollback), else a new one.
func (c *Controller) updateRevision(ctx context.Context, s *syncState, data []byte) (*appsv1.ControllerRevision, error) {
	for i := len(s.revisions) - 1; i >= 0; i-- {
		rev := s.revisions[i]
		if !bytes.Equal(rev.Data.Raw, data) {
			continue
		}
		if i == len(s.revisions)-1 {
			return rev, nil
		}
		r := rev.DeepCopy()
		r.Revision = s.nextRevision()
		if err := c.writer.Update(ctx, r); err != nil {
			return nil, fmt.Errorf("statefulset: %s: renumber revision %s: %w", s.key, rev.Name, err)
		}
		s.revisions = append(slices.Delete(s.revisions, i, i+1), r)
		return r, nil
	}
	return c.createRevision(ctx, s, data)
}

// createRevision writes a new revision of data, raising the collision count
// while its name is taken by other data.
func (c *Controller) createRevision(ctx context.Context, s *syncState, data []byte) (*appsv1.ControllerRevision, error) {
	set := s.set
	for range maxCollisions {
		hash := hashOf(data, s.collisionCount)
		lbls := maps.Clone(set.Spec.Template.Labels)
		if lbls == nil {
			lbls = map[string]string{}
		}
		lbls[LabelHash] = hash
		rev := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Namespace: set.Namespace, Name: set.Name + "-" + hash, Labels: lbls,
				OwnerReferences: []metav1.OwnerReference{controllerRef(set)}},
			Data:     runtime.RawExtension{Raw: data},
			Revision: s.nextRevision(),
		}
		err := c.writer.Create(ctx, rev)
		if err == nil {
			s.revisions = append(s.revisions, rev)
			return rev, nil
		}
		if !errors.Is(err, api.ErrExists) {
			return nil, fmt.Errorf("statefulset: %s: create revision %s: %w", s.key, rev.Name, err)
		}
		if obj, ok := c.revisions.Get(set.Namespace, rev.Name); ok {
			if r := obj.(*appsv1.ControllerRevision); bytes.Equal(r.Data.Raw, data) {
				if ref := metav1.GetControllerOfNoCopy(r); ref != nil && ref.UID == set.UID {
					return r, nil
				}
			}
		} else {
			return nil, fmt.Errorf("statefulset: %s: revision %s exists but is not in the cache yet: %w", s.key, rev.Name, api.ErrConflict)
		}
		s.collisionCount++
	}
	return nil, fmt.Errorf("statefulset: %s: %d revision name collisions in a row", s.key, maxCollisions)
}

// truncateHistory deletes the oldest revisions no pod uses beyond
// spec.revisionHistoryLimit (default 10).
func (c *Controller) truncateHistory(ctx context.Context, s *syncState) error {
	limit := 10
	if s.set.Spec.RevisionHistoryLimit != nil {
		limit = int(*s.set.Spec.RevisionHistoryLimit)
	}
	live := map[string]bool{s.current.Name: true, s.update.Name: true}
	for _, p := range s.pods {
		live[revisionOf(p)] = true
	}
	var old []*appsv1.ControllerRevision
	for _, r := range s.revisions {
		if !live[r.Name] {
			old = append(old, r)
		}
	}
	for _, r := range old[:max(len(old)-limit, 0)] {
		err := c.writer.Delete(ctx, c.res.revisions, r.Namespace, r.Name, r.ResourceVersion)
		if err != nil && !errors.Is(err, api.ErrNotFound) && !errors.Is(err, api.ErrConflict) {
			return fmt.Errorf("statefulset: %s: delete old revision %s: %w", s.key, r.Name, err)
		}
	}
	return nil
}
