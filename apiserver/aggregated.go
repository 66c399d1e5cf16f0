package apiserver

import (
	"mime"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// contentAggregated is the media type of aggregated discovery (kubectl
// 1.30+ and client-go ask for it first): every group, version and
// resource in one answer from /api and one from /apis, instead of one
// request per group-version.
const contentAggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// wantsAggregated reports whether the Accept header of r asks for
// aggregated discovery v2 (before plain JSON, if both are listed).
func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == "application/json" && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
		if mt == "application/json" && params["g"] == "" {
			return false // plain JSON first
		}
	}
	return false
}

// serveAggregated answers /api (core) or /apis (every other group) with
// an APIGroupDiscoveryList.
func (s *Server) serveAggregated(w http.ResponseWriter, core bool) {
	list := apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"},
		Items:    []apidiscoveryv2.APIGroupDiscovery{},
	}
	if core {
		list.Items = append(list.Items, s.groupDiscovery("", []string{"v1"}))
	} else {
		var names []string
		versions := map[string][]string{}
		for _, gv := range s.groupVersions() {
			name := gv.GroupVersion[:len(gv.GroupVersion)-len(gv.Version)-1]
			if _, ok := versions[name]; !ok {
				names = append(names, name)
			}
			versions[name] = append(versions[name], gv.Version)
		}
		for _, name := range names {
			list.Items = append(list.Items, s.groupDiscovery(name, versions[name]))
		}
	}
	writeJSONType(w, http.StatusOK, contentAggregated, list)
}

// groupDiscovery describes one group and its versions, preferred first.
func (s *Server) groupDiscovery(group string, versions []string) apidiscoveryv2.APIGroupDiscovery {
	g := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: group}}
	for _, v := range versions {
		vd := apidiscoveryv2.APIVersionDiscovery{Version: v, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		byName := map[string]int{}
		for _, ar := range s.apiResources(group, v) {
			parent, sub, isSub := strings.Cut(ar.Name, "/")
			if !isSub {
				scope := apidiscoveryv2.ScopeCluster
				if ar.Namespaced {
					scope = apidiscoveryv2.ScopeNamespace
				}
				byName[ar.Name] = len(vd.Resources)
				vd.Resources = append(vd.Resources, apidiscoveryv2.APIResourceDiscovery{
					Resource:         ar.Name,
					ResponseKind:     &metav1.GroupVersionKind{Group: group, Version: v, Kind: ar.Kind},
					Scope:            scope,
					SingularResource: ar.SingularName,
					Verbs:            ar.Verbs,
					ShortNames:       ar.ShortNames,
					Categories:       ar.Categories,
				})
				continue
			}
			i, ok := byName[parent]
			if !ok {
				continue
			}
			kind := &metav1.GroupVersionKind{Group: ar.Group, Version: ar.Version, Kind: ar.Kind}
			if ar.Group == "" && ar.Version == "" {
				kind.Group, kind.Version = group, v
			}
			vd.Resources[i].Subresources = append(vd.Resources[i].Subresources, apidiscoveryv2.APISubresourceDiscovery{
				Subresource:  sub,
				ResponseKind: kind,
				Verbs:        ar.Verbs,
			})
		}
		g.Versions = append(g.Versions, vd)
	}
	return g
}
