package apiserver

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
)

// target is what a resource path names.
type target struct {
	r         api.Resource
	namespace string // "" = all namespaces (lists) or cluster-scoped
	name      string // "" = the collection
	sub       string // "", "status", "scale" (scalable kinds) or "eviction" (pods)
}

// key returns "ns/name" or "name", for messages.
func (t target) key() string {
	if t.r.Namespaced && t.namespace != "" {
		return t.namespace + "/" + t.name
	}
	return t.name
}

func (s *Server) resource(group, version, name string) (api.Resource, bool) {
	for _, r := range s.resources {
		if r.Group == group && r.Version == version && r.Name == name {
			return r, true
		}
	}
	return api.Resource{}, false
}

// parseTarget resolves the path segments after /api/v1 or
// /apis/{group}/{version}, the way kube-apiserver lays them out.
func (s *Server) parseTarget(group, version, rest string) (target, bool) {
	segs := strings.Split(rest, "/")
	for _, seg := range segs {
		if seg == "" {
			return target{}, false
		}
	}
	var t target
	var resName string
	switch {
	case len(segs) >= 3 && segs[0] == "namespaces" && !(group == "" && len(segs) == 3 && segs[2] == "status"):
		t.namespace, resName, segs = segs[1], segs[2], segs[3:]
	default:
		resName, segs = segs[0], segs[1:]
	}
	r, ok := s.resource(group, version, resName)
	if !ok {
		return target{}, false
	}
	t.r = r
	if t.namespace != "" && !r.Namespaced {
		return target{}, false
	}
	if t.namespace == "" && r.Namespaced && len(segs) > 0 {
		// A namespaced object is only addressable within its namespace.
		return target{}, false
	}
	switch len(segs) {
	case 0:
	case 1:
		t.name = segs[0]
	case 2:
		switch sub := segs[1]; {
		case sub == "status":
		case sub == "scale" && scalable(r):
		case sub == "eviction" && r.Group == "" && r.Name == "pods":
		default:
			return target{}, false
		}
		t.name, t.sub = segs[0], segs[1]
	default:
		return target{}, false
	}
	return t, true
}

// serveResource answers every request under /api/v1/ and /apis/{group}/{version}/.
func (s *Server) serveResource(w http.ResponseWriter, req *http.Request) {
	group, version := req.PathValue("group"), req.PathValue("version")
	if group == "" && version == "" {
		version = "v1"
	}
	t, ok := s.parseTarget(group, version, req.PathValue("rest"))
	if !ok {
		writeError(w, errNotFoundPath(req.URL.Path))
		return
	}
	var err *apiError
	switch {
	case t.sub == "scale":
		err = s.serveScale(w, req, t)
	case t.sub == "eviction":
		err = s.serveEviction(w, req, t)
	case t.name == "" && (req.Method == http.MethodGet || req.Method == http.MethodHead):
		if isWatch(req) {
			err = s.watch(w, req, t)
		} else {
			err = s.list(w, req, t)
		}
	case t.name == "" && req.Method == http.MethodPost:
		err = s.create(w, req, t)
	case t.name != "" && (req.Method == http.MethodGet || req.Method == http.MethodHead):
		err = s.get(w, req, t)
	case t.name != "" && req.Method == http.MethodPut && t.sub == "status":
		err = s.updateStatus(w, req, t)
	case t.name != "" && req.Method == http.MethodPut:
		err = s.update(w, req, t)
	case t.name != "" && req.Method == http.MethodDelete && t.sub == "":
		err = s.delete(w, req, t)
	case t.name != "" && req.Method == http.MethodPatch:
		err = s.patch(w, req, t)
	default:
		err = errMethodNotAllowed("%s is not supported on %s", req.Method, req.URL.Path)
	}
	if err != nil {
		writeError(w, err)
	}
}

func isWatch(req *http.Request) bool {
	v := req.URL.Query().Get("watch")
	return v == "true" || v == "1"
}

// parseSelectors reads the labelSelector and fieldSelector of a list or
// watch of r; an empty one is nil.
func parseSelectors(req *http.Request, r api.Resource) (labels.Selector, fields.Selector, *apiError) {
	lsel, aerr := parseSelector(req)
	if aerr != nil {
		return nil, nil, aerr
	}
	fsel, aerr := parseFieldSelector(req, r)
	if aerr != nil {
		return nil, nil, aerr
	}
	return lsel, fsel, nil
}

func parseSelector(req *http.Request) (labels.Selector, *apiError) {
	raw := req.URL.Query().Get("labelSelector")
	sel, err := labels.Parse(raw)
	if err != nil {
		return nil, errBadRequest("unable to parse requirement: invalid labelSelector %q: %v", raw, err)
	}
	if sel.Empty() {
		return nil, nil
	}
	return sel, nil
}

// parseRevision reads resourceVersion: "" and "0" mean 0 (latest).
func parseRevision(req *http.Request) (int64, *apiError) {
	raw := req.URL.Query().Get("resourceVersion")
	if raw == "" {
		return 0, nil
	}
	rv, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || rv < 0 {
		return 0, errBadRequest("invalid resourceVersion %q: want a non-negative integer", raw)
	}
	return rv, nil
}

// typed sets apiVersion and kind of obj from r, as kube-apiserver serves them.
func typed(r api.Resource, obj api.Object) api.Object {
	obj.GetObjectKind().SetGroupVersionKind(r.GVK())
	return obj
}

// objectList is the JSON shape of a list response.
type objectList struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ListMeta `json:"metadata"`
	Items           []api.Object    `json:"items"`
}

func (s *Server) list(w http.ResponseWriter, req *http.Request, t target) *apiError {
	sel, fsel, aerr := parseSelectors(req, t.r)
	if aerr != nil {
		return aerr
	}
	rev, aerr := parseRevision(req)
	if aerr != nil {
		return aerr
	}
	objs, at, err := s.cfg.Store.List(req.Context(), t.r, t.namespace, store.ListOptions{Revision: rev, Selector: sel})
	if err != nil {
		return objectError(t, err)
	}
	if fsel != nil {
		kept := objs[:0]
		for _, o := range objs {
			if matchFields(fsel, o) {
				kept = append(kept, o)
			}
		}
		objs = kept
	}
	if wantsTable(req) {
		writeJSON(w, http.StatusOK, s.table(t.r, objs, at))
		return nil
	}
	out := objectList{
		TypeMeta: metav1.TypeMeta{Kind: t.r.ListKind(), APIVersion: t.r.APIVersion()},
		Metadata: metav1.ListMeta{ResourceVersion: strconv.FormatInt(at, 10)},
		Items:    make([]api.Object, 0, len(objs)),
	}
	for _, o := range objs {
		out.Items = append(out.Items, typed(t.r, o))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) read(req *http.Request, t target) (api.Object, *apiError) {
	obj := t.r.New()
	if err := s.cfg.Store.Get(req.Context(), t.namespace, t.name, obj); err != nil {
		return nil, objectError(t, err)
	}
	return typed(t.r, obj), nil
}

func (s *Server) get(w http.ResponseWriter, req *http.Request, t target) *apiError {
	obj, aerr := s.read(req, t)
	if aerr != nil {
		return aerr
	}
	if wantsTable(req) {
		writeJSON(w, http.StatusOK, s.table(t.r, []api.Object{obj}, 0))
		return nil
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

// decodeBody reads the request body strictly into a new object of t's
// resource and checks its apiVersion, kind and namespace against the path.
func (s *Server) decodeBody(w http.ResponseWriter, req *http.Request, t target) (api.Object, *apiError) {
	if aerr := jsonBody(req); aerr != nil {
		return nil, aerr
	}
	body, aerr := s.readBody(w, req)
	if aerr != nil {
		return nil, aerr
	}
	return decodeObject(body, t)
}

// jsonBody refuses a body that is not JSON (protobuf, CBOR, YAML) with 415
// Unsupported Media Type, so that a client knows to send JSON instead of
// reading a decode error.
func jsonBody(req *http.Request) *apiError {
	ct, _, _ := strings.Cut(req.Header.Get("Content-Type"), ";")
	switch ct = strings.ToLower(strings.TrimSpace(ct)); ct {
	case "", "application/json", "*/*":
		return nil
	}
	return newStatusError(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
		fmt.Sprintf("the body is %s: bosun's API takes JSON bodies only (Content-Type: application/json)", ct))
}

// readBody reads the request body, at most Config.MaxBodyBytes.
func (s *Server) readBody(w http.ResponseWriter, req *http.Request) ([]byte, *apiError) {
	body := http.MaxBytesReader(w, req.Body, s.cfg.MaxBodyBytes)
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newStatusError(http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge,
				fmt.Sprintf("request body is larger than the limit of %d bytes", mbe.Limit))
		}
		return nil, errBadRequest("read request body: %v", err)
	}
	return buf.Bytes(), nil
}

// decodeObject decodes a JSON object of t's kind strictly, and checks its
// kind, namespace and name against t's path (filling them in when absent).
func decodeObject(data []byte, t target) (api.Object, *apiError) {
	obj := t.r.New()
	if err := decodeStrict(data, obj); err != nil {
		return nil, errBadRequest("decode %s: %v", t.r.Kind, err)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk != (schema.GroupVersionKind{}) && gvk != t.r.GVK() {
		return nil, errBadRequest("the body is a %s %s, but the path is for %s %s",
			gvk.GroupVersion().String(), gvk.Kind, t.r.APIVersion(), t.r.Kind)
	}
	if t.r.Namespaced {
		switch ns := obj.GetNamespace(); {
		case ns == "":
			obj.SetNamespace(t.namespace)
		case ns != t.namespace:
			return nil, errBadRequest("the namespace of the object (%s) does not match the namespace of the request (%s)", ns, t.namespace)
		}
	} else if obj.GetNamespace() != "" {
		return nil, errBadRequest("%s are not namespaced: remove metadata.namespace", t.r.Name)
	}
	if t.name != "" {
		switch n := obj.GetName(); {
		case n == "":
			obj.SetName(t.name)
		case n != t.name:
			return nil, errBadRequest("the name of the object (%s) does not match the name in the path (%s)", n, t.name)
		}
	}
	return typed(t.r, obj), nil
}

// decodeStrict decodes JSON case-sensitively, refusing unknown and
// duplicate fields.
func decodeStrict(data []byte, into any) error {
	strict, err := kjson.UnmarshalStrict(data, into)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}
