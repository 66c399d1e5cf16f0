// Package openapi builds and serves the OpenAPI v2 and v3 documents of the
// resources bosun's API serves, as kube-apiserver does, so that kubectl
// validates manifests before `apply` and `create` and `kubectl explain`
// describes fields.
//
// Nothing here is written by hand from the Kubernetes types: the schemas
// come from the Go types of k8s.io/api (core/v1, apps/v1, discovery/v1,
// coordination/v1, policy/v1, events/v1) and the apimachinery packages they
// use (meta/v1, runtime, intstr, resource, version), through kube-openapi's
// openapi-gen, in zz_generated.openapi.go. The paths and operations are
// made from the []api.Resource given to New, with the verbs the API serves
// (list and watch, create, read, replace, patch, delete, and /status for
// kinds that have one) and only the query parameters it honours; kube-openapi's
// builders then pick the definitions those operations refer to and the
// handlers serve them with ETags, as JSON or protobuf.
//
// A kind's definition and its list's carry x-kubernetes-group-version-kind,
// as do DeleteOptions, WatchEvent (for every served group-version) and
// Status; operations carry x-kubernetes-action and the kind's
// x-kubernetes-group-version-kind. PATCH lists no fieldValidation
// parameter, since the API does not validate fields server-side: kubectl
// then validates manifests itself against /openapi/v2 and names unknown
// fields.
//
// # Paths
//
//	GET /openapi/v2                  swagger 2.0: JSON, or protobuf (Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf)
//	GET /openapi/v3                  {"paths": {"apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=…"}, …}}
//	GET /openapi/v3/{group-version}  one group-version's OpenAPI v3 document ("api/v1", "apis/apps/v1", "version")
//
// # Usage
//
//	mux := http.NewServeMux()
//	openapi.New(api.Resources(), "v1.37.2").Register(mux)
//
// # Regenerating
//
// hack/openapi-gen.sh (or `go generate ./apiserver/openapi/`) runs
// openapi-gen at the kube-openapi version go.mod pins. Run it after
// upgrading k8s.io/api, and add a package to its list when the API starts
// serving a kind from a package not yet in it: BuildV2 and BuildV3 fail,
// naming the missing definition, until then.
package openapi

//go:generate ../../hack/openapi-gen.sh
