package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/sync/state"
)

// managedByGit reports whether obj was written by bosun's Git sync.
func managedByGit(obj metav1.Object) bool {
	return obj.GetLabels()[api.LabelManagedBy] == api.ManagedByValue
}

// managedError is the 405 answered to writes of a Git-managed object: it says
// which file to change.
func managedError(t target, obj metav1.Object) *apiError {
	ann := obj.GetAnnotations()
	where := "its manifest"
	if src := ann[api.AnnotationSource]; src != "" {
		where = src
		if i := strings.LastIndex(src, ":"); i > 0 {
			file, line := src[:i], src[i+1:]
			where = file
			if line != "" && line != "0" {
				where = fmt.Sprintf("%s (line %s)", file, line)
			}
		}
	}
	if by := ann[api.AnnotationRenderedBy]; by != "" {
		where += ", rendered by " + by + ","
	}
	msg := fmt.Sprintf("%s %s is managed by Git: change %s in the repository and commit", t.r.Name, t.key(), where)
	if c := ann[api.AnnotationCommit]; c != "" {
		msg += fmt.Sprintf("; it was synced from commit %s", state.CommitInfo{SHA: c}.Short())
	}
	e := errMethodNotAllowed("%s", msg)
	e.status.Details = &metav1.StatusDetails{Name: t.name, Group: t.r.Group, Kind: t.r.Name}
	return e
}

// annotationMirror marks the mirror pod of a static pod (its value is the
// static pod's hash), as kubelet's kubernetes.io/config.mirror.
const annotationMirror = "kubernetes.io/config.mirror"

// mirrorError refuses changes to the mirror pod of a static pod (or turning
// a pod into one): the pod is defined by a file on its node. Its status
// stays writable (the node's agent writes it), and it may be deleted, as
// in Kubernetes: the agent creates it again while the file exists.
func mirrorError(t target, old, obj metav1.Object) *apiError {
	if t.r.Name != "pods" {
		return nil
	}
	_, isMirror := old.GetAnnotations()[annotationMirror]
	_, claims := obj.GetAnnotations()[annotationMirror]
	switch {
	case isMirror:
		node := "its node"
		if p, ok := old.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			node = "node " + p.Spec.NodeName
		}
		e := errMethodNotAllowed("%s %s is the mirror pod of a static pod on %s: edit the file in that node's --pod-manifest-path (deleting the mirror pod does not stop the static pod)",
			t.r.Name, t.key(), node)
		e.status.Details = &metav1.StatusDetails{Name: t.name, Kind: t.r.Name}
		return e
	case claims:
		return errForbidden("%s %s: the annotation %s is reserved for the mirror pods node agents create for static pods",
			t.r.Name, t.key(), annotationMirror)
	}
	return nil
}

// isGitKind reports whether r is a kind that sync writes from Git
// (manifests.Supported): desired state of these kinds gets in only through
// Git.
func isGitKind(r api.Resource) bool {
	for _, gvk := range manifests.Supported() {
		if gvk.Group == r.Group && gvk.Kind == r.Kind {
			return true
		}
	}
	return false
}

// gitOnly refuses a create or a replace (old != nil) of desired state
// through the API: objects of the kinds sync manages are written by sync
// (from Git, straight to the store) and by the controllers that own them,
// never through the API by people or tools (DESIGN.md decision 7). Nodes
// are left to the node rules (admit), which let them write their mirror
// pods; so is a mirror pod sent over a plain-HTTP listener, where a
// development server's agents have no identity of their own. Status
// writes and deletes of objects not from Git are not desired state and
// stay allowed.
func gitOnly(req *http.Request, t target, old, obj metav1.Object) *apiError {
	if !isGitKind(t.r) {
		return nil
	}
	u, _ := UserFrom(req.Context())
	if _, isNode := u.NodeName(); isNode {
		return nil
	}
	if _, mirror := obj.GetAnnotations()[annotationMirror]; mirror && req.TLS == nil && old == nil {
		return nil
	}
	var e *apiError
	switch {
	case old == nil:
		e = errForbidden("%s %s: desired state gets in only through Git: commit its manifest to the repository bosun syncs instead (bosun status names it); the API creates no %s",
			t.r.Kind, t.key(), t.r.Name)
	case metav1.GetControllerOf(old) != nil:
		owner := metav1.GetControllerOf(old)
		e = errForbidden("%s %s is written by the controller of %s %s: change that object in Git instead",
			t.r.Kind, t.key(), owner.Kind, owner.Name)
	default:
		e = errForbidden("%s %s is not from Git, and the API changes no %s: commit its manifest to the repository bosun syncs (or delete it)",
			t.r.Kind, t.key(), t.r.Name)
	}
	e.status.Details = &metav1.StatusDetails{Name: t.name, Group: t.r.Group, Kind: t.r.Name}
	return e
}

// forbidManagedLabel refuses objects that claim to come from Git: only sync
// writes those, straight to the store.
func forbidManagedLabel(t target, obj metav1.Object) *apiError {
	if !managedByGit(obj) {
		return nil
	}
	return errForbidden("%s %s carries the label %s=%s, which only bosun's Git sync may set: write it in the Git repository and commit, or drop the label",
		t.r.Name, t.key(), api.LabelManagedBy, api.ManagedByValue)
}

func (s *Server) create(w http.ResponseWriter, req *http.Request, t target) *apiError {
	obj, aerr := s.decodeBody(w, req, t)
	if aerr != nil {
		return aerr
	}
	t.name, t.namespace = obj.GetName(), obj.GetNamespace()
	if t.name == "" {
		return errBadRequest("%s has no metadata.name", t.r.Kind)
	}
	return s.createChecked(w, req, t, obj)
}

// createChecked refuses what may not be created (a bosun label, a kind
// Git manages, what the identity may not write) and creates obj, which
// must carry no resourceVersion; it answers 201 with the object.
func (s *Server) createChecked(w http.ResponseWriter, req *http.Request, t target, obj api.Object) *apiError {
	if aerr := forbidManagedLabel(t, obj); aerr != nil {
		return aerr
	}
	if aerr := gitOnly(req, t, nil, obj); aerr != nil {
		return aerr
	}
	if aerr := s.admit(req, t, nil, obj); aerr != nil {
		return aerr
	}
	if aerr := s.validate(w, req, t, nil, obj); aerr != nil {
		return aerr
	}
	if obj.GetResourceVersion() != "" {
		return errBadRequest("metadata.resourceVersion must not be set when creating an object")
	}
	if err := s.cfg.Store.Create(req.Context(), obj); err != nil {
		return objectError(t, err)
	}
	writeJSON(w, http.StatusCreated, typed(t.r, obj))
	return nil
}

// checkReplace refuses a replacement of old (not from Git) by obj that
// changes a static pod's mirror, makes desired state through the API, or
// sets bosun's own label.
func checkReplace(req *http.Request, t target, old, obj api.Object) *apiError {
	if aerr := mirrorError(t, old, obj); aerr != nil {
		return aerr
	}
	if aerr := gitOnly(req, t, old, obj); aerr != nil {
		return aerr
	}
	return forbidManagedLabel(t, obj)
}

func (s *Server) update(w http.ResponseWriter, req *http.Request, t target) *apiError {
	obj, aerr := s.decodeBody(w, req, t)
	if aerr != nil {
		return aerr
	}
	old, aerr := s.read(req, t)
	if aerr != nil {
		return aerr
	}
	if managedByGit(old) && s.cfg.GitWrites != nil {
		return s.commitWrite(w, req, t, old, obj)
	}
	if managedByGit(old) {
		return managedError(t, old)
	}
	if aerr := mirrorError(t, old, obj); aerr != nil {
		return aerr
	}
	if aerr := gitOnly(req, t, old, obj); aerr != nil {
		return aerr
	}
	if aerr := s.admit(req, t, old, obj); aerr != nil {
		return aerr
	}
	if aerr := forbidManagedLabel(t, obj); aerr != nil {
		return aerr
	}
	rv := obj.GetResourceVersion()
	if rv == "" {
		return errBadRequest("metadata.resourceVersion is required to update %s %s: read the object, change it and send it back", t.r.Name, t.key())
	}
	if rv != old.GetResourceVersion() {
		return objectError(t, api.ErrConflict)
	}
	if aerr := s.validate(w, req, t, old, obj); aerr != nil {
		return aerr
	}
	obj = s.trackUpdate(req, t, old, obj)
	if err := s.replace(req, old, obj); err != nil {
		return objectError(t, err)
	}
	s.recordWrite(req, t, old, obj)
	writeJSON(w, http.StatusOK, typed(t.r, obj))
	return nil
}

// replace writes obj over old, which the handler just read: one
// compare-and-swap transaction against old's resourceVersion, without
// reading the object again.
func (s *Server) replace(req *http.Request, old, obj api.Object) error {
	txn := s.cfg.Store.Txn()
	if err := txn.Update(old, obj); err != nil {
		return err
	}
	_, err := txn.Commit(req.Context())
	return err
}

// updateStatus replaces only the status of an object, managed or not:
// controllers own the status of Git objects.
func (s *Server) updateStatus(w http.ResponseWriter, req *http.Request, t target) *apiError {
	in, aerr := s.decodeBody(w, req, t)
	if aerr != nil {
		return aerr
	}
	old, aerr := s.read(req, t)
	if aerr != nil {
		return aerr
	}
	if aerr := s.admit(req, t, old, in); aerr != nil {
		return aerr
	}
	rv := in.GetResourceVersion()
	if rv == "" {
		return errBadRequest("metadata.resourceVersion is required to update the status of %s %s", t.r.Name, t.key())
	}
	if rv != old.GetResourceVersion() {
		return objectError(t, api.ErrConflict)
	}
	merged, err := withStatus(t.r, old, in)
	if err != nil {
		return errInternal(err)
	}
	// Status writes are the API's hottest path (every pod's status, from
	// every agent): no second read.
	if err := s.replace(req, old, merged); err != nil {
		return objectError(t, err)
	}
	writeJSON(w, http.StatusOK, typed(t.r, merged))
	return nil
}

// withStatus returns a copy of old whose status is the one of in.
func withStatus(r api.Resource, old, in api.Object) (api.Object, error) {
	// Typed objects: copy the Status field directly.
	if out, ok := old.DeepCopyObject().(api.Object); ok {
		ov, iv := reflect.ValueOf(out).Elem().FieldByName("Status"), reflect.ValueOf(in).Elem().FieldByName("Status")
		if ov.IsValid() && iv.IsValid() && ov.Type() == iv.Type() && ov.CanSet() {
			ov.Set(iv)
			return typed(r, out), nil
		}
	}
	var oldFields, inFields map[string]json.RawMessage
	for _, x := range []struct {
		obj  api.Object
		into *map[string]json.RawMessage
	}{{old, &oldFields}, {in, &inFields}} {
		b, err := json.Marshal(x.obj)
		if err != nil {
			return nil, fmt.Errorf("apiserver: encode %s: %w", r.Kind, err)
		}
		if err := json.Unmarshal(b, x.into); err != nil {
			return nil, fmt.Errorf("apiserver: decode %s: %w", r.Kind, err)
		}
	}
	if st, ok := inFields["status"]; ok {
		oldFields["status"] = st
	} else {
		delete(oldFields, "status")
	}
	b, err := json.Marshal(oldFields)
	if err != nil {
		return nil, fmt.Errorf("apiserver: encode %s: %w", r.Kind, err)
	}
	out := r.New()
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("apiserver: decode %s: %w", r.Kind, err)
	}
	return typed(r, out), nil
}

func (s *Server) delete(w http.ResponseWriter, req *http.Request, t target) *apiError {
	old, aerr := s.read(req, t)
	if aerr != nil {
		return aerr
	}
	if aerr := s.admit(req, t, old, nil); aerr != nil {
		return aerr
	}
	opts, aerr := deleteOptions(w, req, s.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	// A pod from Git that sync pruned is terminating: the agent that
	// stopped it removes it with grace 0. Anything else from Git changes
	// only through Git.
	finishing := old.GetDeletionTimestamp() != nil && opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds == 0
	if _, isPod := old.(*corev1.Pod); managedByGit(old) && !(isPod && finishing) {
		return managedError(t, old)
	}
	for attempt := 0; ; attempt++ {
		if p := opts.Preconditions; p != nil && p.UID != nil && *p.UID != old.GetUID() {
			return newStatusError(http.StatusConflict, metav1.StatusReasonConflict,
				fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, old.GetUID()))
		}
		rv := ""
		if p := opts.Preconditions; p != nil && p.ResourceVersion != nil {
			rv = *p.ResourceVersion
		}
		pod, isPod := old.(*corev1.Pod)
		if !isPod {
			if err := s.cfg.Store.Delete(req.Context(), t.r, t.namespace, t.name, rv); err != nil {
				return objectError(t, err)
			}
			break
		}
		if rv != "" && rv != pod.ResourceVersion {
			return objectError(t, fmt.Errorf("apiserver: delete %s: %w", t.name, api.ErrConflict))
		}
		// A bound pod that has not ended terminates gracefully: the agent
		// running it stops it within the grace period and then removes it.
		terminating := pod.DeepCopy()
		if !api.GracefulPodDelete(terminating, s.cfg.Now(), opts.GracePeriodSeconds) {
			if err := s.cfg.Store.Delete(req.Context(), t.r, t.namespace, t.name, pod.ResourceVersion); err != nil {
				if errors.Is(err, api.ErrConflict) && attempt < patchRetries {
					if old, aerr = s.read(req, t); aerr != nil {
						return aerr
					}
					continue
				}
				return objectError(t, err)
			}
			break
		}
		if terminating.DeletionTimestamp.Equal(pod.DeletionTimestamp) &&
			ptrEqual(terminating.DeletionGracePeriodSeconds, pod.DeletionGracePeriodSeconds) {
			writeJSON(w, http.StatusOK, typed(t.r, pod))
			return nil
		}
		if err := s.cfg.Store.Update(req.Context(), terminating); err != nil {
			if errors.Is(err, api.ErrConflict) && attempt < patchRetries {
				if old, aerr = s.read(req, t); aerr != nil {
					return aerr
				}
				continue
			}
			return objectError(t, err)
		}
		s.recordDelete(req, old)
		writeJSON(w, http.StatusOK, typed(t.r, terminating))
		return nil
	}
	s.recordDelete(req, old)
	writeJSON(w, http.StatusOK, old)
	return nil
}

func ptrEqual(a, b *int64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// deleteOptions returns the DeleteOptions of a DELETE: its body, else the
// gracePeriodSeconds query parameter client-go may send instead; zero options
// when there are none.
func deleteOptions(w http.ResponseWriter, req *http.Request, limit int64) (metav1.DeleteOptions, *apiError) {
	var opts metav1.DeleteOptions
	if v := req.URL.Query().Get("gracePeriodSeconds"); v != "" {
		g, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return opts, errBadRequest("gracePeriodSeconds=%q: not a number of seconds", v)
		}
		opts.GracePeriodSeconds = &g
	}
	if req.Body == nil || req.ContentLength == 0 {
		return opts, nil
	}
	var buf strings.Builder
	if _, err := io.Copy(&buf, http.MaxBytesReader(w, req.Body, limit)); err != nil {
		return opts, errBadRequest("read request body: %v", err)
	}
	if strings.TrimSpace(buf.String()) == "" {
		return opts, nil
	}
	var body metav1.DeleteOptions
	if err := decodeStrict([]byte(buf.String()), &body); err != nil {
		return opts, errBadRequest("decode DeleteOptions: %v", err)
	}
	if body.GracePeriodSeconds == nil {
		body.GracePeriodSeconds = opts.GracePeriodSeconds
	}
	return body, nil
}

// Patch content types (the Content-Type of a PATCH request), as
// kube-apiserver takes them.
const (
	contentMergePatch     = "application/merge-patch+json"
	contentJSONPatch      = "application/json-patch+json"
	contentStrategicPatch = "application/strategic-merge-patch+json"
	contentApplyPatch     = "application/apply-patch+yaml"
)

// patchRetries bounds how many times a PATCH is applied again to the
// current object when another writer changed it meanwhile (kube-apiserver
// retries until the request times out).
const patchRetries = 100

// patch applies a JSON merge patch (RFC 7386), a JSON patch (RFC 6902) or
// a strategic merge patch to the stored object and writes the result with
// the same rules as a PUT: Git-managed objects and mirror pods are refused,
// the node rules apply, and on .../status only the status is taken. The
// write is a compare-and-swap against the object the patch was applied to;
// when another writer changed it meanwhile, the patch is applied again to
// the new object, unless the patch names a resourceVersion (a
// precondition, 409 when stale).
func (s *Server) patch(w http.ResponseWriter, req *http.Request, t target) *apiError {
	if ct, _, _ := strings.Cut(req.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) == contentApplyPatch {
		return s.serverSideApply(w, req, t)
	}
	old, aerr := s.read(req, t)
	if aerr != nil {
		return aerr
	}
	commit := s.cfg.GitWrites != nil && t.sub == ""
	if managedByGit(old) && !commit {
		return managedError(t, old)
	}
	if t.sub != "status" {
		if aerr := mirrorError(t, old, old); aerr != nil {
			return aerr
		}
	}
	body, aerr := s.readBody(w, req)
	if aerr != nil {
		return aerr
	}
	ct, _, _ := strings.Cut(req.Header.Get("Content-Type"), ";")
	ct = strings.TrimSpace(ct)
	switch ct {
	case contentMergePatch, contentJSONPatch, contentStrategicPatch:
	default:
		return newStatusError(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
			fmt.Sprintf("PATCH with Content-Type %q is not supported: use %s, %s, %s or %s", ct, contentMergePatch, contentJSONPatch, contentStrategicPatch, contentApplyPatch))
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if old, aerr = s.read(req, t); aerr != nil {
				return aerr
			}
			if managedByGit(old) && !commit {
				return managedError(t, old)
			}
		}
		orig, err := json.Marshal(typed(t.r, old))
		if err != nil {
			return errInternal(fmt.Errorf("apiserver: encode %s: %w", t.r.Kind, err))
		}
		patched, err := applyPatch(ct, orig, body, t.r)
		if err != nil {
			return newStatusError(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, fmt.Sprintf("apply the patch to %s %s: %v", t.r.Name, t.key(), err))
		}
		obj, aerr := decodeObject(patched, t)
		if aerr != nil {
			return aerr
		}
		precondition := obj.GetResourceVersion() != old.GetResourceVersion()
		if precondition {
			return objectError(t, api.ErrConflict)
		}
		if managedByGit(old) {
			return s.commitWrite(w, req, t, old, obj)
		}
		if t.sub == "status" {
			if obj, err = withStatus(t.r, old, obj); err != nil {
				return errInternal(err)
			}
		} else if aerr := checkReplace(req, t, old, obj); aerr != nil {
			return aerr
		}
		if aerr := s.admit(req, t, old, obj); aerr != nil {
			return aerr
		}
		if t.sub == "" {
			if aerr := s.validate(w, req, t, old, obj); aerr != nil {
				return aerr
			}
			obj = s.trackUpdate(req, t, old, obj)
		}
		err = s.replace(req, old, obj)
		if errors.Is(err, api.ErrConflict) && attempt < patchRetries {
			continue // someone else wrote meanwhile: patch the new object
		}
		if err != nil {
			return objectError(t, err)
		}
		s.recordWrite(req, t, old, obj)
		writeJSON(w, http.StatusOK, typed(t.r, obj))
		return nil
	}
}

// applyPatch applies patch, of content type ct, to the JSON object orig of
// resource r.
func applyPatch(ct string, orig, patch []byte, r api.Resource) ([]byte, error) {
	switch ct {
	case contentMergePatch:
		return jsonpatch.MergePatch(orig, patch)
	case contentJSONPatch:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, err
		}
		return p.Apply(orig)
	case contentStrategicPatch:
		return strategicpatch.StrategicMergePatch(orig, patch, r.New())
	}
	return nil, fmt.Errorf("unsupported patch type %q", ct)
}
