package endpoints

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/bosun-dev/bosun/api"
)

// EndpointSlice labels and limits, as Kubernetes' EndpointSlice controller
// uses them.
const (
	// LabelServiceName names the Service of an EndpointSlice
	// (kubernetes.io/service-name): how clients find a Service's slices.
	LabelServiceName = discoveryv1.LabelServiceName
	// LabelSliceManagedBy names the controller of an EndpointSlice
	// (endpointslice.kubernetes.io/managed-by).
	LabelSliceManagedBy = discoveryv1.LabelManagedBy
	// SliceManagedByValue is the value of LabelSliceManagedBy on the slices
	// this controller writes: Kubernetes' own controller's, since bosun's
	// plays its part and clients may filter on it. Slices with another
	// value (mirrored or the user's) are never touched.
	SliceManagedByValue = "endpointslice-controller.k8s.io"
	// MaxEndpointsPerSlice is how many endpoints one EndpointSlice holds
	// (kube-controller-manager's --max-endpoints-per-slice default).
	MaxEndpointsPerSlice = 100
)

// EndpointSlices returns the discovery.k8s.io/v1 EndpointSlices of svc for
// its Endpoints subsets (as Subsets computes them): one slice per address
// family and set of ports, at most MaxEndpointsPerSlice endpoints each,
// ready addresses with conditions ready and serving, not-ready ones
// without. A Service without endpoints gets one empty slice (a placeholder,
// as Kubernetes writes). Slices are named <service>-<hash> from the family,
// ports and chunk, so the same subsets always give the same slices; each
// carries the Service's labels (but sync's managed-by label),
// LabelServiceName, LabelSliceManagedBy, LabelHeadless for a headless
// Service, and a controller ownerReference to svc.
func EndpointSlices(svc *corev1.Service, subsets []corev1.EndpointSubset) []*discoveryv1.EndpointSlice {
	type group struct {
		family discoveryv1.AddressType
		ports  []discoveryv1.EndpointPort
		key    string
		eps    []discoveryv1.Endpoint
	}
	groups := map[string]*group{}
	add := func(s corev1.EndpointSubset, a corev1.EndpointAddress, ready bool) {
		ip, err := netip.ParseAddr(a.IP)
		if err != nil {
			return
		}
		family := discoveryv1.AddressTypeIPv4
		if ip.Unmap().Is6() {
			family = discoveryv1.AddressTypeIPv6
		}
		key := string(family) + "|" + portsKey(s.Ports)
		g, ok := groups[key]
		if !ok {
			g = &group{family: family, ports: slicePorts(s.Ports), key: key}
			groups[key] = g
		}
		ep := discoveryv1.Endpoint{
			Addresses:  []string{a.IP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
			TargetRef:  a.TargetRef.DeepCopy(),
		}
		if a.Hostname != "" {
			ep.Hostname = ptr.To(a.Hostname)
		}
		if a.NodeName != nil {
			ep.NodeName = ptr.To(*a.NodeName)
		}
		g.eps = append(g.eps, ep)
	}
	for _, s := range subsets {
		for _, a := range s.Addresses {
			add(s, a, true)
		}
		for _, a := range s.NotReadyAddresses {
			add(s, a, false)
		}
	}
	var out []*discoveryv1.EndpointSlice
	for _, key := range slices.Sorted(maps.Keys(groups)) {
		g := groups[key]
		slices.SortFunc(g.eps, func(a, b discoveryv1.Endpoint) int { return strings.Compare(endpointKey(a), endpointKey(b)) })
		for i, chunk := 0, 0; i < len(g.eps); i, chunk = i+MaxEndpointsPerSlice, chunk+1 {
			sl := newSlice(svc, g.family, fmt.Sprintf("%s|%d", g.key, chunk))
			sl.Ports = g.ports
			sl.Endpoints = g.eps[i:min(i+MaxEndpointsPerSlice, len(g.eps))]
			out = append(out, sl)
		}
	}
	if len(out) == 0 {
		family := discoveryv1.AddressTypeIPv4
		if len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
			family = discoveryv1.AddressTypeIPv6
		}
		out = append(out, newSlice(svc, family, "placeholder"))
	}
	return out
}

// newSlice returns an empty slice of svc named from seed.
func newSlice(svc *corev1.Service, family discoveryv1.AddressType, seed string) *discoveryv1.EndpointSlice {
	h := fnv.New32a()
	h.Write([]byte(seed))
	lbls := endpointsLabels(svc)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[LabelServiceName] = svc.Name
	lbls[LabelSliceManagedBy] = SliceManagedByValue
	owner := ownerRef(svc)
	owner.BlockOwnerDeletion = ptr.To(true)
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       svc.Namespace,
			Name:            fmt.Sprintf("%s-%08x", svc.Name, h.Sum32()),
			Labels:          lbls,
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		AddressType: family,
	}
}

// slicePorts converts Endpoints ports (sorted) to EndpointSlice ports.
func slicePorts(ports []corev1.EndpointPort) []discoveryv1.EndpointPort {
	if len(ports) == 0 {
		return nil
	}
	out := make([]discoveryv1.EndpointPort, 0, len(ports))
	for _, p := range ports {
		out = append(out, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Protocol: ptr.To(p.Protocol), Port: ptr.To(p.Port),
			AppProtocol: p.AppProtocol})
	}
	return out
}

func endpointKey(e discoveryv1.Endpoint) string {
	k := strings.Join(e.Addresses, ",")
	if e.TargetRef != nil {
		k += "/" + e.TargetRef.Namespace + "/" + e.TargetRef.Name + "/" + string(e.TargetRef.UID)
	}
	return k
}

// syncSlices makes the EndpointSlices this controller manages for svc
// match want: creates the missing ones, updates those that differ,
// deletes the others. Slices not labelled as this controller's are left
// alone.
func (c *Controller) syncSlices(ctx context.Context, svc *corev1.Service, want []*discoveryv1.EndpointSlice) error {
	have := map[string]*discoveryv1.EndpointSlice{}
	for _, o := range c.slices.List(svc.Namespace, labels.SelectorFromSet(labels.Set{LabelServiceName: svc.Name})) {
		if sl, ok := o.(*discoveryv1.EndpointSlice); ok && sl.Labels[LabelSliceManagedBy] == SliceManagedByValue {
			have[sl.Name] = sl
		}
	}
	var errs []error
	for _, w := range want {
		cur, ok := have[w.Name]
		delete(have, w.Name)
		switch {
		case !ok:
			if err := c.writer.Create(ctx, w); err != nil {
				errs = append(errs, fmt.Errorf("endpoints: create endpointslice %s/%s: %w", w.Namespace, w.Name, err))
			}
		case !sliceUpToDate(cur, w):
			next := cur.DeepCopy()
			next.Labels, next.AddressType, next.Ports, next.Endpoints = w.Labels, w.AddressType, w.Ports, w.Endpoints
			next.OwnerReferences = replaceServiceOwner(next.OwnerReferences, w.OwnerReferences[0])
			if err := c.writer.Update(ctx, next); err != nil {
				errs = append(errs, fmt.Errorf("endpoints: update endpointslice %s/%s: %w", w.Namespace, w.Name, err))
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(have)) {
		errs = append(errs, c.deleteSlice(ctx, have[name]))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.log.Debug("endpointslices in sync", "service", svc.Namespace+"/"+svc.Name, "slices", len(want))
	return nil
}

// deleteSlices deletes the slices this controller made for the Service
// namespace/name (gone, or no longer with a selector).
func (c *Controller) deleteSlices(ctx context.Context, namespace, name string) error {
	var errs []error
	for _, o := range c.slices.List(namespace, labels.SelectorFromSet(labels.Set{LabelServiceName: name, LabelSliceManagedBy: SliceManagedByValue})) {
		if sl, ok := o.(*discoveryv1.EndpointSlice); ok {
			errs = append(errs, c.deleteSlice(ctx, sl))
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) deleteSlice(ctx context.Context, sl *discoveryv1.EndpointSlice) error {
	err := c.writer.Delete(ctx, c.sliceRes, sl.Namespace, sl.Name, sl.ResourceVersion)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		return fmt.Errorf("endpoints: delete endpointslice %s/%s: %w", sl.Namespace, sl.Name, err)
	}
	return nil
}

// sliceUpToDate reports whether cur already says what want says.
func sliceUpToDate(cur, want *discoveryv1.EndpointSlice) bool {
	if !maps.Equal(cur.Labels, want.Labels) || cur.AddressType != want.AddressType ||
		len(cur.OwnerReferences) == 0 || !hasOwner(cur.OwnerReferences, want.OwnerReferences[0]) {
		return false
	}
	return apiequality.Semantic.DeepEqual(cur.Ports, want.Ports) && apiequality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints)
}
