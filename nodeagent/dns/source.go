package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/client/cache"
)

// APISource is the Lister of a node agent: two informers (package
// client/cache) list and watch Services and Endpoints through bosun's API,
// as the Service proxy's do, and every query reads their in-memory caches.
type APISource struct {
	services, endpoints *cache.Informer
}

// NewAPISource returns an APISource reading through c; Run starts it.
// logger may be nil (discard).
func NewAPISource(c *client.Client, logger *slog.Logger) (*APISource, error) {
	svcRes, ok := api.Lookup("services")
	epRes, ok2 := api.Lookup("endpoints")
	if !ok || !ok2 {
		return nil, fmt.Errorf("dns: the API has no services or endpoints resource")
	}
	a := &APISource{
		services:  cache.NewInformer(client.ListWatch{Client: c, Resource: svcRes}, svcRes, logger),
		endpoints: cache.NewInformer(client.ListWatch{Client: c, Resource: epRes}, epRes, logger),
	}
	a.services.AddIndex(indexIP, func(o api.Object) []string {
		svc, ok := o.(*corev1.Service)
		if !ok {
			return nil
		}
		return canonicalIPs(append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...))
	})
	a.endpoints.AddIndex(indexIP, func(o api.Object) []string {
		ep, ok := o.(*corev1.Endpoints)
		if !ok {
			return nil
		}
		var ips []string
		for _, s := range ep.Subsets {
			for _, addr := range s.Addresses {
				ips = append(ips, addr.IP)
			}
		}
		return canonicalIPs(ips)
	})
	return a, nil
}

// indexIP indexes Services by cluster IP and Endpoints by ready address.
const indexIP = "dns:ip"

// canonicalIPs returns the parseable addresses of ips in netip's form,
// without repeats.
func canonicalIPs(ips []string) []string {
	var out []string
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil && !slices.Contains(out, ip.String()) {
			out = append(out, ip.String())
		}
	}
	return out
}

// ServicesByIP implements ReverseLister from the Service informer's index.
func (a *APISource) ServicesByIP(ip string) []*corev1.Service {
	return typed[*corev1.Service](a.services.ByIndex(indexIP, ip))
}

// EndpointsByIP implements ReverseLister from the Endpoints informer's
// index.
func (a *APISource) EndpointsByIP(ip string) []*corev1.Endpoints {
	return typed[*corev1.Endpoints](a.endpoints.ByIndex(indexIP, ip))
}

// typed returns the objects of type T among objs.
func typed[T api.Object](objs []api.Object) []T {
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// Run runs both informers until ctx ends and returns nil then. Run it once.
func (a *APISource) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, inf := range []*cache.Informer{a.services, a.endpoints} {
		wg.Go(func() { _ = inf.Run(ctx) }) // Run fails only when run twice
	}
	wg.Wait()
	return nil
}

// Service implements Lister from the Service informer's cache.
func (a *APISource) Service(namespace, name string) (*corev1.Service, bool) {
	o, ok := a.services.Get(namespace, name)
	if !ok {
		return nil, false
	}
	svc, ok := o.(*corev1.Service)
	return svc, ok
}

// Endpoints implements Lister from the Endpoints informer's cache.
func (a *APISource) Endpoints(namespace, name string) (*corev1.Endpoints, bool) {
	o, ok := a.endpoints.Get(namespace, name)
	if !ok {
		return nil, false
	}
	ep, ok := o.(*corev1.Endpoints)
	return ep, ok
}

// Synced implements Lister: both informers listed once.
func (a *APISource) Synced() bool { return a.services.HasSynced() && a.endpoints.HasSynced() }
