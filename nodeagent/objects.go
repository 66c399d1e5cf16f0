package nodeagent

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
)

var (
	configMapsResource = mustResource("configmaps")
	secretsResource    = mustResource("secrets")
	servicesResource   = mustResource("services")
)

// serviceCacheTTL is how long a list of services serves pod starts.
const serviceCacheTTL = time.Second

// serviceLister lists the services of every namespace through the API,
// reusing a list younger than serviceCacheTTL (many pods starting at once
// list once).
type serviceLister struct {
	c   *client.Client
	clk clock.PassiveClock

	mu   sync.Mutex
	list []*corev1.Service // listed last, at at
	at   time.Time
}

func (l *serviceLister) services(ctx context.Context) ([]*corev1.Service, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.list != nil && l.clk.Since(l.at) < serviceCacheTTL {
		return l.list, nil
	}
	objs, err := l.c.List(ctx, servicesResource, "", "")
	if err != nil {
		return nil, fmt.Errorf("nodeagent: list services for the service environment variables: %w", err)
	}
	list := make([]*corev1.Service, 0, len(objs))
	for _, obj := range objs {
		if s, ok := obj.(*corev1.Service); ok {
			list = append(list, s)
		}
	}
	l.list, l.at = list, l.clk.Now()
	return list, nil
}

// podObjects reads, once per pod sync, the API objects a pod refers to, so
// that all its containers and volumes see the same ones. It is the Objects
// of packages podenv and volumes.
type podObjects struct {
	c          *client.Client
	svc        *serviceLister
	ns         string
	configMaps map[string]*corev1.ConfigMap // nil value: not found
	secrets    map[string]*corev1.Secret
	services   []*corev1.Service
	svcRead    bool
}

func newPodObjects(c *client.Client, svc *serviceLister, ns string) *podObjects {
	return &podObjects{c: c, svc: svc, ns: ns,
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
}

// ConfigMap returns the ConfigMap, or nil when it does not exist.
func (o *podObjects) ConfigMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	return getOnce(ctx, o, o.configMaps, configMapsResource, "configmap", name)
}

// Secret returns the Secret, or nil when it does not exist.
func (o *podObjects) Secret(ctx context.Context, name string) (*corev1.Secret, error) {
	return getOnce(ctx, o, o.secrets, secretsResource, "secret", name)
}

// getOnce returns the object name of r (a T, a pointer type, called what in
// errors) in o's namespace, or nil when it does not exist. It reads it at most once and keeps
// the answer in seen.
func getOnce[T api.Object](ctx context.Context, o *podObjects, seen map[string]T, r api.Resource, what, name string) (T, error) {
	if obj, ok := seen[name]; ok {
		return obj, nil
	}
	var t T // nil: not found
	obj, err := o.c.Get(ctx, r, o.ns, name)
	if client.IsNotFound(err) {
		seen[name] = t
		return t, nil
	}
	if err != nil {
		return t, fmt.Errorf("nodeagent: read %s %s/%s: %w", what, o.ns, name, err)
	}
	t, _ = obj.(T)
	seen[name] = t
	return t, nil
}

// Services lists the services of every namespace (once).
func (o *podObjects) Services(ctx context.Context) ([]*corev1.Service, error) {
	if o.svcRead {
		return o.services, nil
	}
	list, err := o.svc.services(ctx)
	if err != nil {
		return nil, err
	}
	o.services, o.svcRead = list, true
	return o.services, nil
}
