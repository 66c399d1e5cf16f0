package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
)

// The resource metrics API (metrics.k8s.io/v1beta1), which metrics-server
// serves in Kubernetes and kubectl top reads. It is not stored: every
// request asks the agents of the Ready nodes for their stats summary
// (api.PathStatsSummary) at once and answers from what came back in time.
const (
	metricsGroup   = "metrics.k8s.io"
	metricsVersion = "v1beta1"
	// metricsAgentTimeout bounds each agent's answer; an agent that does
	// not answer in time is left out, as metrics-server leaves out a
	// kubelet it cannot scrape.
	metricsAgentTimeout = 5 * time.Second
	// defaultMetricsWindow is the window reported when an agent does not
	// say (api.HeaderStatsWindow): its sampling period.
	defaultMetricsWindow = 10 * time.Second
)

// metricsAPIResources is discovery's list of metrics.k8s.io/v1beta1:
// nodes and pods, get and list only.
func metricsAPIResources() []metav1.APIResource {
	verbs := metav1.Verbs{"get", "list"}
	return []metav1.APIResource{
		{Name: "nodes", Namespaced: false, Kind: "NodeMetrics", Verbs: verbs},
		{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: verbs},
	}
}

// metricsGroupVersion is the group-version discovery adds to the others.
func metricsGroupVersion() metav1.GroupVersionForDiscovery {
	return metav1.GroupVersionForDiscovery{GroupVersion: metricsGroup + "/" + metricsVersion, Version: metricsVersion}
}

// serveMetrics answers /apis/metrics.k8s.io/v1beta1/{rest...}: nodes,
// nodes/NAME, pods, namespaces/NS/pods and namespaces/NS/pods/NAME, with
// labelSelector and fieldSelector; other methods are 405, as
// metrics-server answers them.
func (s *Server) serveMetrics(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		writeError(w, errMethodNotAllowed("the server does not allow this method on the requested resource: %s is not supported by %s (it is read-only)", req.Method, metricsGroup))
		return
	}
	if isWatch(req) {
		writeError(w, errMethodNotAllowed("the server does not allow this method on the requested resource: %s cannot be watched", metricsGroup))
		return
	}
	parts := strings.Split(req.PathValue("rest"), "/")
	var ns, name string
	if len(parts) >= 3 && parts[0] == "namespaces" && parts[2] == "pods" {
		ns, parts = parts[1], parts[2:]
	}
	if len(parts) == 2 {
		name = parts[1]
	}
	var aerr *apiError
	switch {
	case parts[0] == "nodes" && len(parts) <= 2 && ns == "":
		aerr = s.serveNodeMetrics(w, req, name)
	case parts[0] == "pods" && (len(parts) == 1 || len(parts) == 2 && ns != "" && name != ""):
		aerr = s.servePodMetrics(w, req, ns, name)
	default:
		aerr = errNotFoundPath(req.URL.Path)
	}
	if aerr != nil {
		writeError(w, aerr)
	}
}

// summaries is what the agents of some nodes answered, by node name.
type summaries map[string]agentSummary

type agentSummary struct {
	sum    *statsv1alpha1.Summary
	window time.Duration
}

// metricsSelectors reads a request's label and field selectors for r.
func metricsSelectors(req *http.Request, resourceName string) (labels.Selector, fields.Selector, *apiError) {
	r, _ := api.Lookup(resourceName)
	return parseSelectors(req, r)
}

// listFor lists the nodes or pods of namespace that match the selectors,
// or reads the one named.
func (s *Server) listFor(ctx context.Context, resourceName, namespace, name string, sel labels.Selector, fsel fields.Selector) ([]api.Object, *apiError) {
	r, _ := api.Lookup(resourceName)
	if name != "" {
		obj := r.New()
		if err := s.cfg.Store.Get(ctx, namespace, name, obj); err != nil {
			return nil, objectError(target{r: r, namespace: namespace, name: name}, err)
		}
		return []api.Object{obj}, nil
	}
	objs, _, err := s.cfg.Store.List(ctx, r, namespace, store.ListOptions{Selector: sel})
	if err != nil {
		return nil, objectError(target{r: r, namespace: namespace}, err)
	}
	kept := objs[:0]
	for _, o := range objs {
		if matchFields(fsel, o) {
			kept = append(kept, o)
		}
	}
	return kept, nil
}

func (s *Server) serveNodeMetrics(w http.ResponseWriter, req *http.Request, name string) *apiError {
	sel, fsel, aerr := metricsSelectors(req, "nodes")
	if aerr != nil {
		return aerr
	}
	objs, aerr := s.listFor(req.Context(), "nodes", "", name, sel, fsel)
	if aerr != nil {
		if name != "" && aerr.status.Code == http.StatusNotFound {
			return errMetricsNotFound("nodemetrics", name)
		}
		return aerr
	}
	var nodes []*corev1.Node
	for _, o := range objs {
		nodes = append(nodes, o.(*corev1.Node))
	}
	sums := s.askAgents(req.Context(), nodes)
	list := metricsv1beta1.NodeMetricsList{
		TypeMeta: metav1.TypeMeta{Kind: "NodeMetricsList", APIVersion: metricsGroup + "/" + metricsVersion},
		Items:    []metricsv1beta1.NodeMetrics{},
	}
	for _, n := range nodes {
		if m, ok := nodeMetrics(n, sums[n.Name], s.cfg.Now()); ok {
			list.Items = append(list.Items, m)
		}
	}
	return writeMetrics(w, name, list.Items, list, func(m metricsv1beta1.NodeMetrics) any {
		m.TypeMeta = metav1.TypeMeta{Kind: "NodeMetrics", APIVersion: list.APIVersion}
		return m
	}, errMetricsNotFound("nodemetrics", name))
}

func (s *Server) servePodMetrics(w http.ResponseWriter, req *http.Request, namespace, name string) *apiError {
	sel, fsel, aerr := metricsSelectors(req, "pods")
	if aerr != nil {
		return aerr
	}
	objs, aerr := s.listFor(req.Context(), "pods", namespace, name, sel, fsel)
	if aerr != nil {
		if name != "" && aerr.status.Code == http.StatusNotFound {
			return errMetricsNotFound("podmetrics", namespace+"/"+name)
		}
		return aerr
	}
	var pods []*corev1.Pod
	wanted := map[string]bool{}
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if p.Spec.NodeName != "" {
			pods = append(pods, p)
			wanted[p.Spec.NodeName] = true
		}
	}
	var nodes []*corev1.Node
	if len(wanted) > 0 {
		all, aerr := s.listFor(req.Context(), "nodes", "", "", nil, nil)
		if aerr != nil {
			return aerr
		}
		for _, o := range all {
			if n := o.(*corev1.Node); wanted[n.Name] {
				nodes = append(nodes, n)
			}
		}
	}
	sums := s.askAgents(req.Context(), nodes)
	list := metricsv1beta1.PodMetricsList{
		TypeMeta: metav1.TypeMeta{Kind: "PodMetricsList", APIVersion: metricsGroup + "/" + metricsVersion},
		Items:    []metricsv1beta1.PodMetrics{},
	}
	for _, p := range pods {
		if m, ok := podMetrics(p, sums[p.Spec.NodeName], s.cfg.Now()); ok {
			list.Items = append(list.Items, m)
		}
	}
	return writeMetrics(w, name, list.Items, list, func(m metricsv1beta1.PodMetrics) any {
		m.TypeMeta = metav1.TypeMeta{Kind: "PodMetrics", APIVersion: list.APIVersion}
		return m
	}, errMetricsNotFound("podmetrics", namespace+"/"+name))
}

// writeMetrics writes list, or, when one object was asked for by name,
// one(its only item); notFound when that object has no metrics.
func writeMetrics[T any](w http.ResponseWriter, name string, items []T, list any, one func(T) any, notFound *apiError) *apiError {
	if name == "" {
		writeJSON(w, http.StatusOK, list)
		return nil
	}
	if len(items) == 0 {
		return notFound
	}
	writeJSON(w, http.StatusOK, one(items[0]))
	return nil
}

// errMetricsNotFound is metrics-server's 404 for an object without
// metrics.
func errMetricsNotFound(resource, name string) *apiError {
	e := newStatusError(http.StatusNotFound, metav1.StatusReasonNotFound,
		fmt.Sprintf("%s.%s %q not found", resource, metricsGroup, name))
	e.status.Details = &metav1.StatusDetails{Name: name, Group: metricsGroup, Kind: resource}
	return e
}

// askAgents fetches the stats summary of the Ready ones of nodes, all at
// once, each within metricsAgentTimeout; nodes whose agent fails are left
// out (and logged). Nodes that publish no agent API (hollow nodes) are
// left out without a word.
func (s *Server) askAgents(ctx context.Context, nodes []*corev1.Node) summaries {
	out := summaries{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range nodes {
		if !nodeReady(n) {
			continue
		}
		addr, aerr := nodeAgentAddress(n)
		if aerr != nil {
			s.log.Debug("a node has no agent to ask for stats", "node", n.Name, "reason", aerr.status.Message)
			continue
		}
		wg.Go(func() {
			sum, err := s.agentSummary(ctx, addr)
			if err != nil {
				s.log.Info("a node's agent gave no stats; its node and pods have no metrics", "node", n.Name, "err", err)
				return
			}
			mu.Lock()
			out[n.Name] = sum
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// agentSummary asks the agent at addr (host:port) for its stats summary.
func (s *Server) agentSummary(ctx context.Context, addr string) (agentSummary, error) {
	ctx, cancel := context.WithTimeout(ctx, metricsAgentTimeout)
	defer cancel()
	u := url.URL{Scheme: s.scheme, Host: addr, Path: api.PathStatsSummary}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return agentSummary{}, err
	}
	resp, err := s.agents.RoundTrip(req)
	if err != nil {
		return agentSummary{}, rootError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return agentSummary{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var sum statsv1alpha1.Summary
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&sum); err != nil {
		return agentSummary{}, fmt.Errorf("decode the stats summary: %w", err)
	}
	window, err := time.ParseDuration(resp.Header.Get(api.HeaderStatsWindow))
	if err != nil || window <= 0 {
		window = defaultMetricsWindow
	}
	return agentSummary{sum: &sum, window: window}, nil
}

// nodeMetrics is metrics-server's NodeMetrics of node n: CPU rate and
// memory working set; false when the summary lacks either.
func nodeMetrics(n *corev1.Node, as agentSummary, now time.Time) (metricsv1beta1.NodeMetrics, bool) {
	if as.sum == nil {
		return metricsv1beta1.NodeMetrics{}, false
	}
	cpu, mem := as.sum.Node.CPU, as.sum.Node.Memory
	if cpu == nil || cpu.UsageNanoCores == nil || mem == nil || mem.WorkingSetBytes == nil {
		return metricsv1beta1.NodeMetrics{}, false
	}
	return metricsv1beta1.NodeMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels, CreationTimestamp: metav1.NewTime(now)},
		Timestamp:  cpu.Time,
		Window:     metav1.Duration{Duration: as.window},
		Usage:      usage(*cpu.UsageNanoCores, *mem.WorkingSetBytes),
	}, true
}

// podMetrics is metrics-server's PodMetrics of pod p: each container's CPU
// rate and memory working set; false when the pod is not in the summary
// or a container lacks a rate (just started) or memory.
func podMetrics(p *corev1.Pod, as agentSummary, now time.Time) (metricsv1beta1.PodMetrics, bool) {
	if as.sum == nil {
		return metricsv1beta1.PodMetrics{}, false
	}
	i := slices.IndexFunc(as.sum.Pods, func(ps statsv1alpha1.PodStats) bool {
		return ps.PodRef.Namespace == p.Namespace && ps.PodRef.Name == p.Name && (p.UID == "" || ps.PodRef.UID == string(p.UID))
	})
	if i < 0 || len(as.sum.Pods[i].Containers) == 0 {
		return metricsv1beta1.PodMetrics{}, false
	}
	m := metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, CreationTimestamp: metav1.NewTime(now)},
		Window:     metav1.Duration{Duration: as.window},
		Containers: []metricsv1beta1.ContainerMetrics{},
	}
	for _, c := range as.sum.Pods[i].Containers {
		if c.CPU == nil || c.CPU.UsageNanoCores == nil || c.Memory == nil || c.Memory.WorkingSetBytes == nil {
			return metricsv1beta1.PodMetrics{}, false
		}
		if c.CPU.Time.After(m.Timestamp.Time) {
			m.Timestamp = c.CPU.Time
		}
		m.Containers = append(m.Containers, metricsv1beta1.ContainerMetrics{
			Name: c.Name, Usage: usage(*c.CPU.UsageNanoCores, *c.Memory.WorkingSetBytes)})
	}
	return m, true
}

// usage is metrics-server's ResourceList: CPU in nanocores, memory in
// bytes (binary suffixes).
func usage(nanoCores, workingSet uint64) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(nanoCores), resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(int64(workingSet), resource.BinarySI),
	}
}

// PodMetrics returns the metrics.k8s.io PodMetrics of the pods of namespace
// that selector selects, as GET .../namespaces/NS/pods?labelSelector= answers
// them (asking the agents of their nodes); pods without metrics are left
// out. It implements hpa.MetricsSource for the HPA controller.
func (s *Server) PodMetrics(ctx context.Context, namespace string, selector labels.Selector) ([]metricsv1beta1.PodMetrics, error) {
	objs, aerr := s.listFor(ctx, "pods", namespace, "", selector, nil)
	if aerr != nil {
		return nil, fmt.Errorf("apiserver: list the pods of %s for their metrics: %s", namespace, aerr.status.Message)
	}
	var pods []*corev1.Pod
	wanted := map[string]bool{}
	for _, o := range objs {
		if p := o.(*corev1.Pod); p.Spec.NodeName != "" {
			pods = append(pods, p)
			wanted[p.Spec.NodeName] = true
		}
	}
	var nodes []*corev1.Node
	if len(wanted) > 0 {
		all, aerr := s.listFor(ctx, "nodes", "", "", nil, nil)
		if aerr != nil {
			return nil, fmt.Errorf("apiserver: list the nodes for pod metrics: %s", aerr.status.Message)
		}
		for _, o := range all {
			if n := o.(*corev1.Node); wanted[n.Name] {
				nodes = append(nodes, n)
			}
		}
	}
	sums := s.askAgents(ctx, nodes)
	out := []metricsv1beta1.PodMetrics{}
	for _, p := range pods {
		if m, ok := podMetrics(p, sums[p.Spec.NodeName], s.cfg.Now()); ok {
			out = append(out, m)
		}
	}
	return out, nil
}
