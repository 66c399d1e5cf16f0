package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
)

// GitWrites commits API writes of objects from Git, for `bosun server
// --api-writes=commit` (package sync/apiwrites implements it): the API
// answers a write of replicas or container images with the object as sync
// applied the commit.
type GitWrites interface {
	// CommitScale commits spec.replicas of obj (of resource r) in its file,
	// authored on behalf of user, and returns the commit; "" (and no error)
	// when the file already says so.
	CommitScale(ctx context.Context, r api.Resource, obj api.Object, replicas int32, user string) (string, error)
	// CommitImages commits the images (by container name) of obj's
	// containers in its file, on behalf of user; "" when the file already
	// says so.
	CommitImages(ctx context.Context, r api.Resource, obj api.Object, images map[string]string, user string) (string, error)
	// WaitSynced waits until sync applied the commit; a rejected commit is
	// an error saying why.
	WaitSynced(ctx context.Context, sha string) error
}

// annotationLastApplied is kubectl apply's record of what it applied; it
// is not desired state of its own.
const annotationLastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// gitChange is what a write of an object from Git changes that can be
// committed: its replicas, its containers' images.
type gitChange struct {
	replicas *int32
	images   map[string]string
}

// podSpecOf returns the pod spec an object runs (a Pod's, a controller's
// template's) and its replicas field, nil for kinds without one.
func podSpecOf(obj api.Object) (*corev1.PodSpec, **int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec, &o.Spec.Replicas
	case *appsv1.ReplicaSet:
		return &o.Spec.Template.Spec, &o.Spec.Replicas
	case *corev1.ReplicationController:
		if o.Spec.Template == nil {
			return nil, &o.Spec.Replicas
		}
		return &o.Spec.Template.Spec, &o.Spec.Replicas
	case *corev1.Pod:
		return &o.Spec, nil
	}
	return nil, nil
}

// diffForCommit returns what obj changes of old, when that is only
// replicas and container images; otherwise ok is false and what names the
// first other change.
func diffForCommit(old, obj api.Object) (c gitChange, ok bool, what string) {
	oldSpec, oldReplicas := podSpecOf(old)
	norm := obj.DeepCopyObject().(api.Object)
	newSpec, newReplicas := podSpecOf(norm)
	if oldSpec == nil && oldReplicas == nil {
		return c, false, "its kind"
	}
	if oldReplicas != nil && newReplicas != nil && !reflect.DeepEqual(*oldReplicas, *newReplicas) {
		if *newReplicas == nil {
			return c, false, "spec.replicas (removed)"
		}
		r := **newReplicas
		c.replicas = &r
		*newReplicas = *oldReplicas
	}
	if oldSpec != nil && newSpec != nil && len(oldSpec.Containers) == len(newSpec.Containers) {
		for i := range newSpec.Containers {
			o, n := &oldSpec.Containers[i], &newSpec.Containers[i]
			if o.Name == n.Name && o.Image != n.Image {
				if c.images == nil {
					c.images = map[string]string{}
				}
				c.images[n.Name] = n.Image
				n.Image = o.Image
			}
		}
	}
	// Everything else must be as it was (kubectl apply's own annotation
	// aside, and what the server keeps: status, resourceVersion, ...).
	a, b := comparable(old), comparable(norm)
	if !reflect.DeepEqual(a, b) {
		return c, false, firstDiff(a, b)
	}
	return c, c.replicas != nil || c.images != nil, ""
}

// comparable is obj as JSON, without status, system metadata and kubectl
// apply's annotation.
func comparable(obj api.Object) map[string]any {
	b, _ := json.Marshal(obj)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		for _, k := range []string{"resourceVersion", "generation", "managedFields", "uid", "creationTimestamp"} {
			delete(md, k)
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, annotationLastApplied)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	return m
}

// firstDiff names the first top-level field (or metadata field) that
// differs between a and b.
func firstDiff(a, b map[string]any) string {
	for _, k := range []string{"metadata", "spec"} {
		am, _ := a[k].(map[string]any)
		bm, _ := b[k].(map[string]any)
		for f := range bm {
			if !reflect.DeepEqual(am[f], bm[f]) {
				return k + "." + f
			}
		}
		for f := range am {
			if _, ok := bm[f]; !ok {
				return k + "." + f
			}
		}
	}
	return "the object"
}

// commitWrite commits the write of old (from Git) to obj when it changes
// only replicas or container images, waits for sync, and answers with the
// object as applied; other writes are refused with managedError, saying
// what could not be committed.
func (s *Server) commitWrite(w http.ResponseWriter, req *http.Request, t target, old, obj api.Object) *apiError {
	c, ok, what := diffForCommit(old, obj)
	if !ok {
		e := managedError(t, old)
		if what != "" {
			e.status.Message += fmt.Sprintf("; with --api-writes=commit only replicas and container images are committed for you, and this write changes %s", what)
		}
		return e
	}
	user, _ := UserFrom(req.Context())
	var shas []string
	if c.images != nil {
		sha, err := s.cfg.GitWrites.CommitImages(req.Context(), t.r, old, c.images, user.Name)
		if err != nil {
			return errInternal(fmt.Errorf("commit the images of %s %s: %w", t.r.Kind, t.key(), err))
		}
		shas = append(shas, sha)
	}
	if c.replicas != nil {
		sha, err := s.cfg.GitWrites.CommitScale(req.Context(), t.r, old, *c.replicas, user.Name)
		if err != nil {
			return errInternal(fmt.Errorf("commit the replicas of %s %s: %w", t.r.Kind, t.key(), err))
		}
		shas = append(shas, sha)
	}
	if aerr := s.waitCommits(req, shas); aerr != nil {
		return aerr
	}
	now, aerr := s.read(req, t)
	if aerr != nil {
		return aerr
	}
	writeJSON(w, http.StatusOK, typed(t.r, now))
	return nil
}

// waitCommits waits until sync applied the last of shas ("" ones changed
// nothing).
func (s *Server) waitCommits(req *http.Request, shas []string) *apiError {
	last := ""
	for _, sha := range shas {
		if sha != "" {
			last = sha
		}
	}
	if last == "" {
		return nil
	}
	if err := s.cfg.GitWrites.WaitSynced(req.Context(), last); err != nil {
		return newStatusError(http.StatusGatewayTimeout, metav1.StatusReasonTimeout, err.Error())
	}
	return nil
}

// commitScale answers a PUT or PATCH of the scale of obj (from Git) under
// --api-writes=commit: the replicas asked for are committed to its file.
func (s *Server) commitScale(w http.ResponseWriter, req *http.Request, t target, obj api.Object) *apiError {
	cur, err := scaleOf(obj)
	if err != nil {
		return errInternal(err)
	}
	body, aerr := s.readBody(w, req)
	if aerr != nil {
		return aerr
	}
	want := &autoscalingv1.Scale{}
	if req.Method == http.MethodPatch {
		orig, err := json.Marshal(cur)
		if err != nil {
			return errInternal(err)
		}
		ct, _, _ := strings.Cut(req.Header.Get("Content-Type"), ";")
		patched, err := applyPatch(strings.TrimSpace(ct), orig, body, t.r)
		if err != nil {
			return newStatusError(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, fmt.Sprintf("apply the patch to the scale of %s %s: %v", t.r.Name, t.key(), err))
		}
		body = patched
	}
	if err := json.Unmarshal(body, want); err != nil {
		return errBadRequest("decode the Scale: %v", err)
	}
	if want.Spec.Replicas < 0 {
		return newStatusError(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, "spec.replicas: must be greater than or equal to 0")
	}
	user, _ := UserFrom(req.Context())
	sha, err := s.cfg.GitWrites.CommitScale(req.Context(), t.r, obj, want.Spec.Replicas, user.Name)
	if err != nil {
		return errInternal(fmt.Errorf("commit the replicas of %s %s: %w", t.r.Kind, t.key(), err))
	}
	if aerr := s.waitCommits(req, []string{sha}); aerr != nil {
		return aerr
	}
	now, aerr := s.read(req, t)
	if aerr != nil {
		return aerr
	}
	sc, err := scaleOf(now)
	if err != nil {
		return errInternal(err)
	}
	writeJSON(w, http.StatusOK, sc)
	return nil
}
