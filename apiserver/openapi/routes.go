package openapi

import (
	"net/http"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"

	"github.com/bosun-dev/bosun/api"
)

// The media types of the API: bosun reads and writes JSON, streams watch
// events as JSON, and takes three of Kubernetes' four kinds of PATCH
// (server-side apply is not served).
var (
	mediaJSON  = []string{"application/json"}
	mediaList  = []string{"application/json", "application/json;stream=watch"}
	mediaPatch = []string{
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/strategic-merge-patch+json",
	}
)

// Query parameters of list and watch: only those the API honours. Writes
// list none, since the API ignores dryRun, fieldManager and
// fieldValidation, and clients read the document to learn what the server
// supports: kubectl validates manifests itself when a kind's PATCH lists
// no fieldValidation.
var listParams = []common.Parameter{
	param{name: "labelSelector", kind: common.QueryParameterKind, dataType: "string",
		desc: "Only objects whose labels match, such as app=web,tier!=db or env in (prod,staging); all when absent."},
	param{name: "fieldSelector", kind: common.QueryParameterKind, dataType: "string",
		desc: "Only objects whose fields match: metadata.name and metadata.namespace for every kind, a few more for pods and nodes; all when absent."},
	param{name: "resourceVersion", kind: common.QueryParameterKind, dataType: "string",
		desc: "A list: the store revision to list at. A watch: the revision after which changes are sent (\"\" or \"0\": every current object first, as ADDED)."},
	param{name: "timeoutSeconds", kind: common.QueryParameterKind, dataType: "integer",
		desc: "A watch: end the stream after this many seconds."},
	param{name: "watch", kind: common.QueryParameterKind, dataType: "boolean",
		desc: "Stream the changes (ADDED, MODIFIED, DELETED events, one JSON object a line) instead of answering a list."},
}

// gvRoutes is the routes of one group-version, as kube-openapi's builders
// take them (a go-restful WebService, without go-restful).
type gvRoutes struct {
	root   string // "/api/v1", "/apis/apps/v1", "/version"
	routes []common.Route
}

func (c *gvRoutes) RootPath() string                   { return c.root }
func (c *gvRoutes) PathParameters() []common.Parameter { return nil }
func (c *gvRoutes) Routes() []common.Route             { return c.routes }

// route is one operation: a method on a path.
type route struct {
	method, path, id, desc string
	tag                    string
	action                 string // x-kubernetes-action: get, list, post, put, patch, delete
	gvk                    map[string]any
	params                 []common.Parameter
	body                   any // the model of the request body, or nil
	consumes, produces     []string
	responses              []common.StatusCodeResponse
}

func (r *route) Method() string                 { return r.method }
func (r *route) Path() string                   { return r.path }
func (r *route) OperationName() string          { return r.id }
func (r *route) Parameters() []common.Parameter { return r.params }
func (r *route) Description() string            { return r.desc }
func (r *route) Consumes() []string             { return r.consumes }
func (r *route) Produces() []string             { return r.produces }
func (r *route) RequestPayloadSample() any      { return r.body }
func (r *route) ResponsePayloadSample() any     { return nil }

func (r *route) StatusCodeResponses() []common.StatusCodeResponse { return r.responses }

func (r *route) Metadata() map[string]any {
	m := map[string]any{}
	if r.action != "" {
		m[extAction] = r.action
	}
	if r.gvk != nil {
		m[extGVK] = r.gvk
	}
	return m
}

type param struct {
	name, desc, dataType string
	kind                 common.ParameterKind
	required             bool
}

func (p param) Name() string               { return p.name }
func (p param) Description() string        { return p.desc }
func (p param) Required() bool             { return p.required }
func (p param) Kind() common.ParameterKind { return p.kind }
func (p param) DataType() string           { return p.dataType }
func (p param) AllowMultiple() bool        { return false }

type response struct {
	code  int
	msg   string
	model any
}

func (r response) Code() int       { return r.code }
func (r response) Message() string { return r.msg }
func (r response) Model() any      { return r.model }

// model names a definition by its OpenAPI model name, for a type with no
// Go value at hand (a resource's list type).
type model string

func (m model) OpenAPIModelName() string { return string(m) }

// modelName returns the OpenAPI model name of a Go value:
// "io.k8s.api.apps.v1.Deployment" for an *appsv1.Deployment.
func modelName(v any) string { return util.GetCanonicalTypeName(v) }

// listModel returns the model name of r's list type, which k8s.io/api
// names after the kind: io.k8s.api.apps.v1.DeploymentList.
func listModel(r api.Resource) string { return modelName(r.New()) + "List" }

// hasStatus reports whether r's objects have a status, and so a /status
// subresource.
func hasStatus(r api.Resource) bool {
	_, ok := r.GoType().Elem().FieldByName("Status")
	return ok
}

// gvPath returns the path of a group-version: "/api/v1" or "/apis/apps/v1".
func gvPath(group, ver string) string {
	if group == "" {
		return "/api/" + ver
	}
	return "/apis/" + group + "/" + ver
}

// shortGroup returns the group as operation IDs and tags name it: "core"
// for the core group, "coordination" for coordination.k8s.io.
func shortGroup(group string) string {
	if group == "" {
		return "core"
	}
	return strings.TrimSuffix(group, ".k8s.io")
}

// opPrefix returns the group-version part of operation IDs, as
// kube-apiserver spells it: "CoreV1", "AppsV1", "CoordinationV1".
func opPrefix(group, ver string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(shortGroup(group), ".") {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String() + strings.ToUpper(ver[:1]) + ver[1:]
}

// routeContainers returns the routes of resources, one container per
// group-version in the order of first appearance, then /version.
func routeContainers(resources []api.Resource) []*gvRoutes {
	var out []*gvRoutes
	byGV := map[string]*gvRoutes{}
	for _, r := range resources {
		root := gvPath(r.Group, r.Version)
		c, ok := byGV[root]
		if !ok {
			c = &gvRoutes{root: root, routes: []common.Route{discoveryRoute(r.Group, r.Version)}}
			byGV[root] = c
			out = append(out, c)
		}
		c.routes = append(c.routes, resourceRoutes(r)...)
	}
	return append(out, versionRoutes())
}

// discoveryRoute is the GET of a group-version's APIResourceList.
func discoveryRoute(group, ver string) common.Route {
	prefix := opPrefix(group, ver)
	return &route{method: http.MethodGet, path: gvPath(group, ver), id: "get" + prefix + "APIResources",
		desc: "Lists the resources of the group-version.", tag: tag(group, ver), produces: mediaJSON,
		responses: []common.StatusCodeResponse{response{http.StatusOK, "OK", &metav1.APIResourceList{}}}}
}

func versionRoutes() *gvRoutes {
	return &gvRoutes{root: "/version", routes: []common.Route{
		&route{method: http.MethodGet, path: "/version", id: "getCodeVersion", tag: "version",
			desc: "Reads the version of the API server.", produces: mediaJSON,
			responses: []common.StatusCodeResponse{response{http.StatusOK, "OK", &version.Info{}}}},
	}}
}

// tag returns the tag of a group-version's operations: "core_v1", "apps_v1".
func tag(group, ver string) string {
	return strings.ReplaceAll(shortGroup(group), ".", "_") + "_" + ver
}

// resourceRoutes returns the operations bosun serves on r: list and watch
// (in a namespace and across them), create, read, replace, patch and
// delete, and read, replace and patch of /status where r has one. Which
// identity may write what is the API's business (most writes of a kind
// from Git are refused), not the document's.
func resourceRoutes(r api.Resource) []common.Route {
	gvPrefix, scope := opPrefix(r.Group, r.Version), ""
	collection := gvPath(r.Group, r.Version) + "/" + r.Name
	var pathParams []common.Parameter
	var routes []*route
	op := func(method, path, verb, action, suffix, desc string, params ...common.Parameter) *route {
		rt := &route{method: method, path: path, action: action, id: verb + gvPrefix + scope + r.Kind + suffix,
			desc: desc, params: append(slices.Clone(pathParams), params...), produces: mediaJSON}
		routes = append(routes, rt)
		return rt
	}
	returns := func(m any, codes ...int) []common.StatusCodeResponse {
		var out []common.StatusCodeResponse
		for _, c := range codes {
			out = append(out, response{c, http.StatusText(c), m})
		}
		return out
	}
	obj, list := r.New(), model(listModel(r))

	if r.Namespaced {
		rt := op(http.MethodGet, collection, "list", "list", "ForAllNamespaces",
			"Lists the "+r.Name+" of every namespace, or with watch=true streams their changes.", listParams...)
		rt.produces, rt.responses = mediaList, returns(list, http.StatusOK)
		collection = gvPath(r.Group, r.Version) + "/namespaces/{namespace}/" + r.Name
		scope = "Namespaced"
		pathParams = []common.Parameter{param{name: "namespace", kind: common.PathParameterKind, dataType: "string",
			required: true, desc: "The namespace of the objects."}}
	}
	object := collection + "/{name}"
	name := param{name: "name", kind: common.PathParameterKind, dataType: "string", required: true,
		desc: "The name of the " + r.Kind + "."}
	body := param{name: "body", kind: common.BodyParameterKind, required: true}

	rt := op(http.MethodGet, collection, "list", "list", "",
		"Lists the "+r.Name+", or with watch=true streams their changes.", listParams...)
	rt.produces, rt.responses = mediaList, returns(list, http.StatusOK)
	rt = op(http.MethodPost, collection, "create", "post", "", "Creates "+article(r.Kind)+".", body)
	rt.body, rt.consumes, rt.responses = obj, mediaJSON, returns(obj, http.StatusCreated)
	rt = op(http.MethodGet, object, "read", "get", "", "Reads one "+r.Kind+".", name)
	rt.responses = returns(obj, http.StatusOK)
	rt = op(http.MethodPut, object, "replace", "put", "", "Replaces one "+r.Kind+".", name, body)
	rt.body, rt.consumes, rt.responses = obj, mediaJSON, returns(obj, http.StatusOK)
	rt = op(http.MethodPatch, object, "patch", "patch", "",
		"Changes part of one "+r.Kind+" with a JSON, JSON merge or strategic merge patch.", name, body)
	rt.body, rt.consumes, rt.responses = &metav1.Patch{}, mediaPatch, returns(obj, http.StatusOK)
	rt = op(http.MethodDelete, object, "delete", "delete", "", "Deletes one "+r.Kind+" and answers it.",
		name, param{name: "body", kind: common.BodyParameterKind})
	rt.body, rt.consumes, rt.responses = &metav1.DeleteOptions{}, mediaJSON, returns(obj, http.StatusOK)
	if hasStatus(r) {
		status := object + "/status"
		rt = op(http.MethodGet, status, "read", "get", "Status", "Reads one "+r.Kind+", for its status.", name)
		rt.responses = returns(obj, http.StatusOK)
		rt = op(http.MethodPut, status, "replace", "put", "Status", "Replaces the status of one "+r.Kind+".", name, body)
		rt.body, rt.consumes, rt.responses = obj, mediaJSON, returns(obj, http.StatusOK)
		rt = op(http.MethodPatch, status, "patch", "patch", "Status", "Changes part of the status of one "+r.Kind+".", name, body)
		rt.body, rt.consumes, rt.responses = &metav1.Patch{}, mediaPatch, returns(obj, http.StatusOK)
	}

	gvk := map[string]any{"group": r.Group, "version": r.Version, "kind": r.Kind}
	out := make([]common.Route, len(routes))
	for i, rt := range routes {
		rt.gvk, rt.tag = gvk, tag(r.Group, r.Version)
		out[i] = rt
	}
	return out
}

// article returns "a Pod" or "an Endpoints".
func article(kind string) string {
	if strings.ContainsRune("AEIOU", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}
