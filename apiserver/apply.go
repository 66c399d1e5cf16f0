package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver/openapi"
)

// applier runs server-side apply with apimachinery's field manager
// (structured-merge-diff): one FieldManager per kind, over a type
// converter built from the served kinds' OpenAPI schemas on first use.
type applier struct {
	resources []api.Resource

	once sync.Once
	tc   managedfields.TypeConverter
	err  error

	mu  sync.Mutex
	fms map[schema.GroupVersionKind]*managedfields.FieldManager
}

func newApplier(resources []api.Resource) *applier {
	return &applier{resources: resources, fms: map[schema.GroupVersionKind]*managedfields.FieldManager{}}
}

// fieldManager returns the field manager of r's kind.
func (a *applier) fieldManager(r api.Resource) (*managedfields.FieldManager, error) {
	a.once.Do(func() {
		models, err := openapi.Models(a.resources, KubernetesVersion)
		if err == nil {
			a.tc, err = managedfields.NewTypeConverter(models, false)
		}
		a.err = err
	})
	if a.err != nil {
		return nil, a.err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	gvk := r.GVK()
	if fm, ok := a.fms[gvk]; ok {
		return fm, nil
	}
	fm, err := managedfields.NewDefaultFieldManager(a.tc, scheme.Scheme, scheme.Scheme, scheme.Scheme, gvk, gvk.GroupVersion(), "", nil)
	if err != nil {
		return nil, err
	}
	a.fms[gvk] = fm
	return fm, nil
}

// serverSideApply answers PATCH with application/apply-patch+yaml: the
// applied configuration is merged into the live object (or makes it) by
// the field manager named in fieldManager, which then owns those fields;
// a field another manager owns with another value is a 409 conflict unless
// force=true. The result goes through the same rules as any write: an
// object from Git is Git's (under --api-writes=commit its replicas and
// images may be committed), a new object of a kind Git manages is refused.
func (s *Server) serverSideApply(w http.ResponseWriter, req *http.Request, t target) *apiError {
	if t.sub != "" {
		return errMethodNotAllowed("server-side apply of the %s subresource is not supported: apply the object itself", t.sub)
	}
	q := req.URL.Query()
	manager := q.Get("fieldManager")
	if manager == "" {
		return newStatusError(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
			"PatchOptions.fieldManager is required for apply requests")
	}
	force := false
	if raw := q.Get("force"); raw != "" {
		var err error
		if force, err = strconv.ParseBool(raw); err != nil {
			return errBadRequest("force=%q: want true or false", raw)
		}
	}
	body, aerr := s.readBody(w, req)
	if aerr != nil {
		return aerr
	}
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		return errBadRequest("the applied configuration is not YAML or JSON: %v", err)
	}
	applied := &unstructured.Unstructured{}
	if err := applied.UnmarshalJSON(js); err != nil {
		return errBadRequest("the applied configuration: %v", err)
	}
	if gvk := applied.GroupVersionKind(); gvk != t.r.GVK() {
		return errBadRequest("the applied configuration is a %s, but the request is for %s", gvk, t.r.GVK())
	}
	if applied.GetName() != t.name {
		return errBadRequest("the applied configuration names %q, but the request is for %q", applied.GetName(), t.name)
	}
	if t.r.Namespaced {
		if ns := applied.GetNamespace(); ns != "" && ns != t.namespace {
			return errBadRequest("the applied configuration's namespace %q is not the request's %q", ns, t.namespace)
		}
		applied.SetNamespace(t.namespace)
	}
	fm, err := s.apply.fieldManager(t.r)
	if err != nil {
		return errInternal(fmt.Errorf("server-side apply of %s: %w", t.r.Kind, err))
	}

	old, aerr := s.read(req, t)
	creating := aerr != nil && aerr.status.Code == http.StatusNotFound
	if aerr != nil && !creating {
		return aerr
	}
	live := old
	if creating {
		live = t.r.New()
		live.GetObjectKind().SetGroupVersionKind(t.r.GVK())
		live.SetName(t.name)
		live.SetNamespace(applied.GetNamespace())
	} else {
		live = typed(t.r, old)
	}
	result, err := fm.Apply(live, applied, manager, force)
	if err != nil {
		var se apierrors.APIStatus
		if errors.As(err, &se) {
			st := se.Status()
			st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
			return &apiError{status: st}
		}
		return newStatusError(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, fmt.Sprintf("apply to %s %s: %v", t.r.Name, t.key(), err))
	}
	obj, err := asTyped(t.r, result)
	if err != nil {
		return errInternal(err)
	}
	if creating {
		obj.SetResourceVersion("")
		return s.createChecked(w, req, t, obj)
	}
	if managedByGit(old) {
		if s.cfg.GitWrites != nil {
			return s.commitWrite(w, req, t, old, obj)
		}
		return managedError(t, old)
	}
	if aerr := checkReplace(req, t, old, obj); aerr != nil {
		return aerr
	}
	if aerr := s.admit(req, t, old, obj); aerr != nil {
		return aerr
	}
	if aerr := s.validate(w, req, t, old, obj); aerr != nil {
		return aerr
	}
	obj.SetResourceVersion(old.GetResourceVersion())
	if err := s.replace(req, old, obj); err != nil {
		return objectError(t, err)
	}
	s.recordWrite(req, t, old, obj)
	writeJSON(w, http.StatusOK, typed(t.r, obj))
	return nil
}

// asTyped returns o as r's Go type (the field manager may return an
// unstructured object).
func asTyped(r api.Resource, o runtime.Object) (api.Object, error) {
	if obj, ok := o.(api.Object); ok && reflect.TypeOf(obj) == r.GoType() {
		return obj, nil
	}
	u, ok := o.(runtime.Unstructured)
	if !ok {
		return nil, fmt.Errorf("apiserver: apply returned a %T, not a %s", o, r.Kind)
	}
	out := r.New()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), out); err != nil {
		return nil, fmt.Errorf("apiserver: apply result: %w", err)
	}
	return out, nil
}

// trackUpdate records in obj's managed fields that the request's field
// manager (its fieldManager parameter, else its User-Agent's program name,
// as kube-apiserver names them) set what it changed from old, so a later
// server-side apply sees who owns what. Writes of nodes' own objects
// (their Node, Lease, pods' status) are not tracked: their rate grows with
// the cluster, and nobody applies those.
func (s *Server) trackUpdate(req *http.Request, t target, old, obj api.Object) api.Object {
	if u, ok := UserFrom(req.Context()); ok && u.InGroup(api.GroupNodes) {
		return obj
	}
	if len(old.GetManagedFields()) == 0 && len(obj.GetManagedFields()) == 0 {
		return obj // never applied: nothing to keep consistent
	}
	fm, err := s.apply.fieldManager(t.r)
	if err != nil {
		return obj
	}
	manager := req.URL.Query().Get("fieldManager")
	if manager == "" {
		manager, _, _ = strings.Cut(req.UserAgent(), "/")
	}
	if manager == "" {
		manager = "unknown"
	}
	out, err := asTyped(t.r, fm.UpdateNoErrors(typed(t.r, old), typed(t.r, obj), manager))
	if err != nil {
		return obj
	}
	return out
}
