package quota

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// AnnotationLimitRanger is the pod annotation naming the defaults a
// LimitRange set, as Kubernetes' LimitRanger writes it.
const AnnotationLimitRanger = "kubernetes.io/limit-ranger"

// defaultedItem returns item with Kubernetes' API defaults of a Container
// item applied: a missing default limit is the max, a missing default
// request the default limit, else the min.
func defaultedItem(item corev1.LimitRangeItem) corev1.LimitRangeItem {
	item = *item.DeepCopy()
	if item.Type != corev1.LimitTypeContainer {
		return item
	}
	if item.Default == nil {
		item.Default = corev1.ResourceList{}
	}
	if item.DefaultRequest == nil {
		item.DefaultRequest = corev1.ResourceList{}
	}
	for k, v := range item.Max {
		if _, ok := item.Default[k]; !ok {
			item.Default[k] = v.DeepCopy()
		}
	}
	for k, v := range item.Default {
		if _, ok := item.DefaultRequest[k]; !ok {
			item.DefaultRequest[k] = v.DeepCopy()
		}
	}
	for k, v := range item.Min {
		if _, ok := item.DefaultRequest[k]; !ok {
			item.DefaultRequest[k] = v.DeepCopy()
		}
	}
	return item
}

// defaultRequestsFromLimits sets each container's missing request to its
// limit, as the API's pod defaulting does before admission.
func defaultRequestsFromLimits(pod *corev1.Pod) {
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			r := &cs[i].Resources
			for k, v := range r.Limits {
				if _, ok := r.Requests[k]; !ok {
					if r.Requests == nil {
						r.Requests = corev1.ResourceList{}
					}
					r.Requests[k] = v.DeepCopy()
				}
			}
		}
	}
}

// ApplyLimitRanges does what Kubernetes' LimitRanger admission does to a new
// pod: it sets the missing requests and limits of every container from the
// Container items' defaultRequest and default (recording what it set in the
// kubernetes.io/limit-ranger annotation), then checks min, max and
// maxLimitRequestRatio of Container items against each container and of Pod
// items against the pod's totals. It returns the failures, joined as
// Kubernetes joins them; pod is changed in place.
func ApplyLimitRanges(pod *corev1.Pod, ranges []*corev1.LimitRange) error {
	defaultRequestsFromLimits(pod)
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].Name < ranges[j].Name })
	var set []string
	for _, lr := range ranges {
		for _, item := range lr.Spec.Limits {
			if item.Type == corev1.LimitTypeContainer {
				set = append(set, applyDefaults(pod, defaultedItem(item))...)
			}
		}
	}
	if len(set) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[AnnotationLimitRanger] = "LimitRanger plugin set: " + strings.Join(set, "; ")
	}
	var errs []string
	for _, lr := range ranges {
		for _, item := range lr.Spec.Limits {
			errs = append(errs, checkItem(pod, defaultedItem(item))...)
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s", errs[0])
	}
	return fmt.Errorf("[%s]", strings.Join(errs, ", "))
}

// applyDefaults sets every container's missing limits and requests from
// item and returns the annotation parts naming them.
func applyDefaults(pod *corev1.Pod, item corev1.LimitRangeItem) []string {
	var notes []string
	apply := func(c *corev1.Container, kind string) {
		limits := setMissing(&c.Resources.Limits, item.Default)
		requests := setMissing(&c.Resources.Requests, item.DefaultRequest)
		if len(requests) > 0 {
			notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(requests, ", "), kind, c.Name))
		}
		if len(limits) > 0 {
			notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(limits, ", "), kind, c.Name))
		}
	}
	for i := range pod.Spec.InitContainers {
		apply(&pod.Spec.InitContainers[i], "init container")
	}
	for i := range pod.Spec.Containers {
		apply(&pod.Spec.Containers[i], "container")
	}
	return notes
}

// setMissing copies into *list the entries of defaults it lacks and returns
// their names, sorted.
func setMissing(list *corev1.ResourceList, defaults corev1.ResourceList) []string {
	var set []string
	for k, v := range defaults {
		if _, ok := (*list)[k]; ok {
			continue
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[k] = v.DeepCopy()
		set = append(set, string(k))
	}
	sort.Strings(set)
	return set
}

// checkItem returns the failures of pod against one LimitRange item.
func checkItem(pod *corev1.Pod, item corev1.LimitRangeItem) []string {
	switch item.Type {
	case corev1.LimitTypeContainer:
		var errs []string
		for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
			for i := range cs {
				errs = append(errs, checkBounds(string(corev1.LimitTypeContainer), item, cs[i].Resources.Requests, cs[i].Resources.Limits)...)
			}
		}
		return errs
	case corev1.LimitTypePod:
		opts := resourcehelper.PodResourcesOptions{ExcludeOverhead: true}
		return checkBounds(string(corev1.LimitTypePod), item, resourcehelper.PodRequests(pod, opts), resourcehelper.PodLimits(pod, opts))
	}
	return nil // PersistentVolumeClaim items concern claims, not pods
}

// checkBounds checks requests and limits against item's min, max and
// maxLimitRequestRatio, with Kubernetes' messages.
func checkBounds(limitType string, item corev1.LimitRangeItem, requests, limits corev1.ResourceList) []string {
	var errs []string
	for _, k := range names(item.Min) {
		if err := minConstraint(limitType, k, item.Min[k], requests, limits); err != "" {
			errs = append(errs, err)
		}
	}
	for _, k := range names(item.Max) {
		if err := maxConstraint(limitType, k, item.Max[k], requests, limits); err != "" {
			errs = append(errs, err)
		}
	}
	for _, k := range names(item.MaxLimitRequestRatio) {
		if err := ratioConstraint(limitType, k, item.MaxLimitRequestRatio[k], requests, limits); err != "" {
			errs = append(errs, err)
		}
	}
	return errs
}

func minConstraint(limitType string, name corev1.ResourceName, min resource.Quantity, requests, limits corev1.ResourceList) string {
	req, ok := requests[name]
	if !ok {
		return fmt.Sprintf("minimum %s usage per %s is %s.  No request is specified", name, limitType, min.String())
	}
	if req.Cmp(min) < 0 {
		return fmt.Sprintf("minimum %s usage per %s is %s, but request is %s", name, limitType, min.String(), req.String())
	}
	if lim, ok := limits[name]; ok && lim.Cmp(min) < 0 {
		return fmt.Sprintf("minimum %s usage per %s is %s, but limit is %s", name, limitType, min.String(), lim.String())
	}
	return ""
}

func maxConstraint(limitType string, name corev1.ResourceName, max resource.Quantity, requests, limits corev1.ResourceList) string {
	lim, ok := limits[name]
	if !ok {
		return fmt.Sprintf("maximum %s usage per %s is %s.  No limit is specified", name, limitType, max.String())
	}
	if lim.Cmp(max) > 0 {
		return fmt.Sprintf("maximum %s usage per %s is %s, but limit is %s", name, limitType, max.String(), lim.String())
	}
	if req, ok := requests[name]; ok && req.Cmp(max) > 0 {
		return fmt.Sprintf("maximum %s usage per %s is %s, but request is %s", name, limitType, max.String(), req.String())
	}
	return ""
}

func ratioConstraint(limitType string, name corev1.ResourceName, ratio resource.Quantity, requests, limits corev1.ResourceList) string {
	req, reqOK := requests[name]
	lim, limOK := limits[name]
	if !reqOK || req.IsZero() {
		return fmt.Sprintf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, limitType, ratio.String())
	}
	if !limOK || lim.IsZero() {
		return fmt.Sprintf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, limitType, ratio.String())
	}
	observed := float64(lim.MilliValue()) / float64(req.MilliValue())
	if observed > float64(ratio.MilliValue())/1000 {
		return fmt.Sprintf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, limitType, ratio.String(), observed)
	}
	return ""
}
