package openapi

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/cached"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/bosun-dev/bosun/api"
)

// The vendor extensions clients read: kubectl finds a kind's schema by
// x-kubernetes-group-version-kind on definitions, and which query
// parameters a kind's PATCH takes by the same extension on operations.
const (
	extGVK    = "x-kubernetes-group-version-kind"
	extAction = "x-kubernetes-action"
)

// Paths at which the documents are served.
const (
	PathV2 = "/openapi/v2"
	PathV3 = "/openapi/v3"
)

// Handler serves the OpenAPI documents of a set of resources: the
// swagger 2.0 document at /openapi/v2 (JSON, or protobuf as kubectl asks
// for it) and the OpenAPI v3 documents at /openapi/v3/{group-version},
// indexed at /openapi/v3. Each document is built on its first request and
// its bytes are kept; answers carry an ETag and honour If-None-Match.
// A Handler is safe for concurrent use.
type Handler struct {
	v2      *handler.OpenAPIService
	v3      *handler3.OpenAPIService
	v3Paths map[string]bool // "api/v1", "apis/apps/v1", "version"
}

// New returns a Handler for resources (normally api.Resources()); version
// is the Kubernetes version the API reports ("v1.37.2"), the documents'
// info.version. It builds nothing yet: a resource whose types have no
// generated schema makes the documents answer 503 and is reported by
// BuildV2 and BuildV3.
func New(resources []api.Resource, version string) *Handler {
	resources = slices.Clone(resources)
	h := &Handler{v3Paths: map[string]bool{}}
	h.v2 = handler.NewOpenAPIServiceLazy(cached.Once(cached.Func(func() (*spec.Swagger, string, error) {
		doc, err := BuildV2(resources, version)
		return doc, "v2", err
	})))
	all := cached.Once(cached.Func(func() (map[string]*spec3.OpenAPI, string, error) {
		docs, err := BuildV3(resources, version)
		return docs, "v3", err
	}))
	h.v3 = handler3.NewOpenAPIService()
	for _, c := range routeContainers(resources) {
		gv := strings.TrimPrefix(c.root, "/")
		h.v3Paths[gv] = true
		h.v3.UpdateGroupVersionLazy(gv, cached.Transform(
			func(docs map[string]*spec3.OpenAPI, etag string, err error) (*spec3.OpenAPI, string, error) {
				return docs[gv], etag, err
			}, all))
	}
	return h
}

// Register adds the handler's routes to mux: GET (and HEAD) of
// /openapi/v2, /openapi/v3 and /openapi/v3/{group-version}.
func (h *Handler) Register(mux *http.ServeMux) {
	h.v2.RegisterOpenAPIVersionedService(PathV2, getOnly{mux})
	mux.HandleFunc(http.MethodGet+" "+PathV3, h.v3.HandleDiscovery)
	mux.HandleFunc(http.MethodGet+" "+PathV3+"/{gv...}", h.serveV3)
}

// serveV3 answers one group-version's document, and 404 for a path that
// names none (kube-openapi's handler would answer an empty 200).
func (h *Handler) serveV3(w http.ResponseWriter, r *http.Request) {
	if !h.v3Paths[r.PathValue("gv")] {
		http.NotFound(w, r)
		return
	}
	h.v3.HandleGroupVersion(w, r)
}

// getOnly registers kube-openapi's handlers for GET only.
type getOnly struct{ mux *http.ServeMux }

func (g getOnly) Handle(path string, h http.Handler) { g.mux.Handle(http.MethodGet+" "+path, h) }

// BuildV2 returns the swagger 2.0 document of resources: their paths and
// operations, and the definitions those refer to, each kind and list
// marked with its group, version and kind.
func BuildV2(resources []api.Resource, version string) (*spec.Swagger, error) {
	var routes []common.RouteContainer
	for _, c := range routeContainers(resources) {
		routes = append(routes, c)
	}
	doc, err := builder.BuildOpenAPISpecFromRoutes(routes, &common.Config{
		Info:                           info(version),
		GetDefinitions:                 GetOpenAPIDefinitions,
		GetDefinitionName:              newNamer(resources).name,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
		CommonResponses:                map[int]spec.Response{http.StatusUnauthorized: unauthorized()},
	})
	if err != nil {
		return nil, fmt.Errorf("openapi: build v2: %w (a newly served package needs hack/openapi-gen.sh)", err)
	}
	return doc, nil
}

// BuildV3 returns the OpenAPI v3 documents of resources by the path they
// are served under below /openapi/v3: "api/v1", "apis/apps/v1", …, and
// "version". Each holds its group-version's paths and the schemas they
// refer to.
func BuildV3(resources []api.Resource, version string) (map[string]*spec3.OpenAPI, error) {
	// The definitions are made once and shared by every document.
	defs := GetOpenAPIDefinitions(func(name string) spec.Ref {
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(name))
	})
	names := newNamer(resources)
	docs := map[string]*spec3.OpenAPI{}
	for _, c := range routeContainers(resources) {
		doc, err := builder3.BuildOpenAPISpecFromRoutes([]common.RouteContainer{c}, &common.OpenAPIV3Config{
			Info:                           info(version),
			Definitions:                    defs,
			GetDefinitionName:              names.name,
			GetOperationIDAndTagsFromRoute: operationIDAndTags,
			CommonResponses: map[int]*spec3.Response{http.StatusUnauthorized: {
				ResponseProps: spec3.ResponseProps{Description: unauthorized().Description}}},
		})
		if err != nil {
			return nil, fmt.Errorf("openapi: build v3 %s: %w (a newly served package needs hack/openapi-gen.sh)", c.root, err)
		}
		docs[strings.TrimPrefix(c.root, "/")] = doc
	}
	return docs, nil
}

func unauthorized() spec.Response {
	return spec.Response{ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}
}

func operationIDAndTags(r common.Route) (string, []string, error) {
	rt, ok := r.(*route)
	if !ok {
		return "", nil, fmt.Errorf("openapi: route %s %s is not bosun's", r.Method(), r.Path())
	}
	return rt.id, []string{rt.tag}, nil
}

func info(version string) *spec.Info {
	return &spec.Info{InfoProps: spec.InfoProps{Title: "bosun", Version: version}}
}

// namer maps a definition's model name to the group-version-kinds it is
// served as, for the x-kubernetes-group-version-kind extension.
type namer map[string][]any

func newNamer(resources []api.Resource) namer {
	n := namer{}
	add := func(model, group, ver, kind string) {
		n[model] = append(n[model], map[string]any{"group": group, "version": ver, "kind": kind})
	}
	seen := map[string]bool{}
	for _, r := range resources {
		add(modelName(r.New()), r.Group, r.Version, r.Kind)
		add(listModel(r), r.Group, r.Version, r.ListKind())
		if gv := r.APIVersion(); !seen[gv] {
			seen[gv] = true
			add(modelName(&metav1.DeleteOptions{}), r.Group, r.Version, "DeleteOptions")
			add(modelName(&metav1.WatchEvent{}), r.Group, r.Version, "WatchEvent")
		}
	}
	add(modelName(&metav1.Status{}), "", "v1", "Status")
	return n
}

// name is common.Config's GetDefinitionName: the generated model names
// are kept ("io.k8s.api.apps.v1.Deployment"), and kinds get their
// group-version-kinds.
func (n namer) name(model string) (string, spec.Extensions) {
	if gvks, ok := n[model]; ok {
		return model, spec.Extensions{extGVK: gvks}
	}
	return model, nil
}

// Models returns the schemas of the served kinds and everything they
// refer to, by the names their references use (the OpenAPI v3 components):
// what server-side apply's type converter
// (k8s.io/apimachinery/pkg/util/managedfields.NewTypeConverter) reads.
func Models(resources []api.Resource, version string) (map[string]*spec.Schema, error) {
	docs, err := BuildV3(resources, version)
	if err != nil {
		return nil, err
	}
	out := map[string]*spec.Schema{}
	for _, d := range docs {
		if d.Components == nil {
			continue
		}
		for name, s := range d.Components.Schemas {
			out[name] = s
		}
	}
	return out, nil
}
