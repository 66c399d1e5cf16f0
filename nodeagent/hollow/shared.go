package hollow

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent"
)

// SharedPods is a nodeagent.PodSource for many agents in one process: ONE
// list and watch of every bound pod (fieldSelector spec.nodeName!=), fanned
// out to the agents by spec.nodeName. Pods handed to agents are shared and
// must not be changed.
type SharedPods struct {
	c   *client.Client
	log *slog.Logger

	mu       sync.Mutex
	synced   bool
	byNode   map[string]map[string]*corev1.Pod // node -> UID -> pod
	handlers map[string]nodeagent.PodHandler
}

var _ nodeagent.PodSource = (*SharedPods)(nil)

// NewSharedPods returns a SharedPods reading through c; Run it.
func NewSharedPods(c *client.Client, log *slog.Logger) *SharedPods {
	defaults.Logger(&log)
	return &SharedPods{c: c, log: log,
		byNode: map[string]map[string]*corev1.Pod{}, handlers: map[string]nodeagent.PodHandler{}}
}

// Run lists and watches the bound pods until ctx ends; it returns nil.
func (s *SharedPods) Run(ctx context.Context) error {
	return nodeagent.ListWatchPods(ctx, s.c, (*fanout)(s), nodeagent.ListWatchOptions{
		FieldSelector: "spec.nodeName!=", Logger: s.log})
}

// WatchPods registers h for node until ctx ends; h gets the node's current
// pods at once if the shared list is done, else with it.
func (s *SharedPods) WatchPods(ctx context.Context, node string, h nodeagent.PodHandler) error {
	s.mu.Lock()
	s.handlers[node] = h
	if s.synced {
		h.SetPods(podList(s.byNode[node]))
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	if s.handlers[node] == h {
		delete(s.handlers, node)
	}
	s.mu.Unlock()
	return nil
}

func podList(m map[string]*corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	return out
}

// fanout is SharedPods as the handler of the one list and watch.
type fanout SharedPods

func (f *fanout) SetPods(pods []*corev1.Pod) {
	s := (*SharedPods)(f)
	byNode := map[string]map[string]*corev1.Pod{}
	for _, p := range pods {
		m := byNode[p.Spec.NodeName]
		if m == nil {
			m = map[string]*corev1.Pod{}
			byNode[p.Spec.NodeName] = m
		}
		m[string(p.UID)] = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byNode, s.synced = byNode, true
	for node, h := range s.handlers {
		h.SetPods(podList(byNode[node]))
	}
}

func (f *fanout) UpsertPod(p *corev1.Pod) {
	s := (*SharedPods)(f)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.byNode[p.Spec.NodeName]
	if m == nil {
		m = map[string]*corev1.Pod{}
		s.byNode[p.Spec.NodeName] = m
	}
	m[string(p.UID)] = p
	if h := s.handlers[p.Spec.NodeName]; h != nil {
		h.UpsertPod(p)
	}
}

func (f *fanout) DeletePod(p *corev1.Pod) {
	s := (*SharedPods)(f)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byNode[p.Spec.NodeName], string(p.UID))
	if h := s.handlers[p.Spec.NodeName]; h != nil {
		h.DeletePod(p)
	}
}

// HTTPClient returns an http.Client fit for many agents sharing one
// client.Client: it keeps up to 256 idle connections to the server.
func HTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: t}
}
