package apiserver

import (
	"net/http"
	"regexp"
	"runtime"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/bosun-dev/bosun/api"
)

// KubernetesVersion is the Kubernetes API version bosun's API follows
// (the k8s.io/api release its types come from).
const KubernetesVersion = "v1.37.2"

// verbs every served resource supports.
var resourceVerbs = metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}

// inAllCategory lists the resources `kubectl get all` shows, as Kubernetes does.
func inAllCategory(r api.Resource) bool {
	switch r.Name {
	case "pods", "replicationcontrollers", "services", "replicasets", "deployments", "daemonsets", "statefulsets",
		"jobs", "cronjobs", "horizontalpodautoscalers":
		return true
	}
	return false
}

func methodGET(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, errMethodNotAllowed("%s is not supported on %s", r.Method, r.URL.Path))
		return false
	}
	return true
}

// groupVersions returns the groups (other than core) and their versions, in
// the order of api.Resources.
func (s *Server) groupVersions() []metav1.GroupVersionForDiscovery {
	var out []metav1.GroupVersionForDiscovery
	for _, r := range s.resources {
		if r.Group == "" {
			continue
		}
		gv := metav1.GroupVersionForDiscovery{GroupVersion: r.Group + "/" + r.Version, Version: r.Version}
		if !slices.Contains(out, gv) {
			out = append(out, gv)
		}
	}
	return append(out, metricsGroupVersion())
}

func (s *Server) apiGroup(name string) (metav1.APIGroup, bool) {
	g := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: name}
	for _, gv := range s.groupVersions() {
		if gv.GroupVersion[:len(gv.GroupVersion)-len(gv.Version)-1] == name {
			g.Versions = append(g.Versions, gv)
		}
	}
	if len(g.Versions) == 0 {
		return g, false
	}
	g.PreferredVersion = g.Versions[0]
	return g, true
}

func (s *Server) serveCoreVersions(w http.ResponseWriter, r *http.Request) {
	if !methodGET(w, r) {
		return
	}
	w.Header().Set("Vary", "Accept")
	if wantsAggregated(r) {
		s.serveAggregated(w, true)
		return
	}
	writeJSON(w, http.StatusOK, metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
		Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
			{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
		},
	})
}

func (s *Server) serveGroupList(w http.ResponseWriter, r *http.Request) {
	if !methodGET(w, r) {
		return
	}
	w.Header().Set("Vary", "Accept")
	if wantsAggregated(r) {
		s.serveAggregated(w, false)
		return
	}
	list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{}}
	var seen []string
	for _, gv := range s.groupVersions() {
		name := gv.GroupVersion[:len(gv.GroupVersion)-len(gv.Version)-1]
		if slices.Contains(seen, name) {
			continue
		}
		seen = append(seen, name)
		g, _ := s.apiGroup(name)
		list.Groups = append(list.Groups, g)
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) serveGroup(w http.ResponseWriter, r *http.Request) {
	if !methodGET(w, r) {
		return
	}
	g, ok := s.apiGroup(r.PathValue("group"))
	if !ok {
		writeError(w, errNotFoundPath(r.URL.Path))
		return
	}
	writeJSON(w, http.StatusOK, g)
}

// serveResourceList answers /api/v1 and /apis/{group}/{version}.
func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request) {
	if !methodGET(w, r) {
		return
	}
	group, ver := r.PathValue("group"), r.PathValue("version")
	if group == "" {
		ver = "v1"
	}
	gv := ver
	if group != "" {
		gv = group + "/" + ver
	}
	list := metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv,
		APIResources: s.apiResources(group, ver),
	}
	if len(list.APIResources) == 0 {
		writeError(w, errNotFoundPath(r.URL.Path))
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// apiResources lists the resources of group/version and their
// subresources, as discovery shows them.
func (s *Server) apiResources(group, version string) []metav1.APIResource {
	if group == metricsGroup && version == metricsVersion {
		return metricsAPIResources()
	}
	out := []metav1.APIResource{}
	for _, res := range s.resources {
		if res.Group != group || res.Version != version {
			continue
		}
		ar := metav1.APIResource{
			Name:         res.Name,
			SingularName: res.Singular,
			Namespaced:   res.Namespaced,
			Kind:         res.Kind,
			Verbs:        resourceVerbs,
			ShortNames:   res.ShortNames,
		}
		if inAllCategory(res) {
			ar.Categories = []string{"all"}
		}
		out = append(out, ar, metav1.APIResource{
			Name:       res.Name + "/status",
			Namespaced: res.Namespaced,
			Kind:       res.Kind,
			Verbs:      metav1.Verbs{"get", "update"},
		})
		out = append(out, subresources(res)...)
	}
	return out
}

var semverBuild = regexp.MustCompile(`[^0-9A-Za-z.-]+`)

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	if !methodGET(w, r) {
		return
	}
	git := KubernetesVersion + "+bosun"
	if s.cfg.Version != "" {
		git += "." + semverBuild.ReplaceAllString(s.cfg.Version, "-")
	}
	writeJSON(w, http.StatusOK, version.Info{
		Major:      "1",
		Minor:      "37",
		GitVersion: git,
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	})
}
