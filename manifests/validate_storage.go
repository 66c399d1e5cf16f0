package manifests

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // CronJob time zones validate the same on hosts without a zoneinfo database.

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// timeZonePart is what kube-apiserver accepts in each part of a time zone
// name (IANA's naming rules, digits and + tolerated).
var timeZonePart = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

// validateTimeZone checks a CronJob's spec.timeZone as kube-apiserver does:
// a non-empty IANA name, not "Local", that time.LoadLocation knows (the
// database is embedded, so the answer does not depend on the host).
func validateTimeZone(tz *string, p *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(p, *tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !timeZonePart.MatchString(part) {
			return field.ErrorList{field.Invalid(p, *tz, "unknown time zone "+*tz)}
		}
	}
	if strings.EqualFold(*tz, "Local") {
		return field.ErrorList{field.Invalid(p, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")}
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		return field.ErrorList{field.Invalid(p, *tz, err.Error())}
	}
	return nil
}

var accessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod}

// validateAccessModes requires at least one known access mode, and
// ReadWriteOncePod alone.
func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path) field.ErrorList {
	if len(modes) == 0 {
		return field.ErrorList{field.Required(p, "at least 1 access mode is required")}
	}
	var errs field.ErrorList
	for _, m := range modes {
		if !oneOf(m, accessModes) {
			errs = append(errs, field.NotSupported(p, m, accessModes))
		}
	}
	if len(modes) > 1 && oneOf(corev1.ReadWriteOncePod, modes) {
		errs = append(errs, field.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

var volumeModes = []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem}

// validateClaimSpec is kube-apiserver's ValidatePersistentVolumeClaimSpec
// for the fields bosun's provisioner uses.
func validateClaimSpec(s *corev1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	errs := validateAccessModes(s.AccessModes, p.Child("accessModes"))
	if s.Selector != nil {
		_, e := validateLabelSelector(s.Selector, "PersistentVolumeClaim", p.Child("selector"))
		errs = append(errs, e...)
	}
	sp := p.Child("resources", "requests").Key(string(corev1.ResourceStorage))
	storage, ok := s.Resources.Requests[corev1.ResourceStorage]
	switch {
	case !ok:
		errs = append(errs, field.Required(sp, ""))
	case storage.Sign() <= 0:
		errs = append(errs, field.Invalid(sp, storage.String(), "must be greater than zero"))
	}
	if lim, ok := s.Resources.Limits[corev1.ResourceStorage]; ok && lim.Sign() < 0 {
		errs = append(errs, field.Invalid(p.Child("resources", "limits").Key(string(corev1.ResourceStorage)), lim.String(), "must be greater than or equal to 0"))
	}
	if s.StorageClassName != nil && *s.StorageClassName != "" {
		errs = append(errs, dnsSubdomain(*s.StorageClassName, p.Child("storageClassName"))...)
	}
	if s.VolumeMode != nil && !oneOf(*s.VolumeMode, volumeModes) {
		errs = append(errs, field.NotSupported(p.Child("volumeMode"), *s.VolumeMode, volumeModes))
	}
	return errs
}

// validatePV is kube-apiserver's ValidatePersistentVolume for the fields
// bosun uses: capacity, access modes, one volume source, reclaim policy,
// and the node affinity a local volume needs.
func validatePV(pv *corev1.PersistentVolume) field.ErrorList {
	p := field.NewPath("spec")
	s := &pv.Spec
	errs := validateAccessModes(s.AccessModes, p.Child("accessModes"))
	cp := p.Child("capacity")
	if q, ok := s.Capacity[corev1.ResourceStorage]; !ok || len(s.Capacity) > 1 {
		errs = append(errs, field.NotSupported(cp, sortedKeys(s.Capacity), []corev1.ResourceName{corev1.ResourceStorage}))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(cp.Key(string(corev1.ResourceStorage)), q.String(), "must be greater than zero"))
	}
	policies := []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain}
	if !oneOf(s.PersistentVolumeReclaimPolicy, policies) {
		errs = append(errs, field.NotSupported(p.Child("persistentVolumeReclaimPolicy"), s.PersistentVolumeReclaimPolicy, policies))
	}
	if s.StorageClassName != "" {
		errs = append(errs, dnsSubdomain(s.StorageClassName, p.Child("storageClassName"))...)
	}
	if s.VolumeMode != nil && !oneOf(*s.VolumeMode, volumeModes) {
		errs = append(errs, field.NotSupported(p.Child("volumeMode"), *s.VolumeMode, volumeModes))
	}
	switch n := countPVSources(&s.PersistentVolumeSource); {
	case n == 0:
		errs = append(errs, field.Required(p, "must specify a volume type"))
	case n > 1:
		errs = append(errs, field.Forbidden(p, "may not specify more than 1 volume type"))
	}
	if hp := s.HostPath; hp != nil {
		errs = append(errs, validateAbsPath(hp.Path, p.Child("hostPath", "path"))...)
	}
	if l := s.Local; l != nil {
		errs = append(errs, validateAbsPath(l.Path, p.Child("local", "path"))...)
		if s.NodeAffinity == nil || s.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(p.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	}
	return errs
}

// validateAbsPath requires an absolute path without "..".
func validateAbsPath(v string, p *field.Path) field.ErrorList {
	switch {
	case v == "":
		return field.ErrorList{field.Required(p, "")}
	case !path.IsAbs(v):
		return field.ErrorList{field.Invalid(p, v, "must be an absolute path")}
	case strings.Contains("/"+v+"/", "/../"):
		return field.ErrorList{field.Invalid(p, v, "must not contain '..'")}
	}
	return nil
}

// countPVSources counts the volume sources set in a PersistentVolume.
func countPVSources(s *corev1.PersistentVolumeSource) int {
	n := 0
	for _, set := range []bool{s.GCEPersistentDisk != nil, s.AWSElasticBlockStore != nil, s.HostPath != nil, s.Glusterfs != nil,
		s.NFS != nil, s.RBD != nil, s.ISCSI != nil, s.Cinder != nil, s.CephFS != nil, s.FC != nil, s.Flocker != nil,
		s.FlexVolume != nil, s.AzureFile != nil, s.VsphereVolume != nil, s.Quobyte != nil, s.AzureDisk != nil,
		s.PhotonPersistentDisk != nil, s.PortworxVolume != nil, s.ScaleIO != nil, s.Local != nil, s.StorageOS != nil, s.CSI != nil} {
		if set {
			n++
		}
	}
	return n
}

// quotaScopes are the scopes Kubernetes knows.
var quotaScopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopePriorityClass,
	corev1.ResourceQuotaScopeCrossNamespacePodAffinity, corev1.ResourceQuotaScopeVolumeAttributesClass}

// validateQuota is kube-apiserver's ValidateResourceQuota for spec.hard:
// qualified resource names and quantities >= 0.
func validateQuota(q *corev1.ResourceQuota) field.ErrorList {
	var errs field.ErrorList
	hp := field.NewPath("spec", "hard")
	for _, k := range sortedKeys(q.Spec.Hard) {
		kp := hp.Key(k)
		errs = append(errs, validateResourceName(k, kp)...)
		if v := q.Spec.Hard[corev1.ResourceName(k)]; v.Sign() < 0 {
			errs = append(errs, field.Invalid(kp, v.String(), "must be greater than or equal to 0"))
		}
	}
	for i, s := range q.Spec.Scopes {
		if !oneOf(s, quotaScopes) {
			errs = append(errs, field.NotSupported(field.NewPath("spec", "scopes").Index(i), s, quotaScopes))
		}
	}
	return errs
}

// validateResourceName checks a resource name: a qualified name, with a
// domain prefix unless it is one of Kubernetes' standard names.
func validateResourceName(name string, p *field.Path) field.ErrorList {
	errs := invalid(p, name, validation.IsQualifiedName(name))
	if len(errs) == 0 && !strings.Contains(name, "/") && !standardResource(name) {
		errs = append(errs, field.Invalid(p, name, "must be a standard resource type or fully qualified"))
	}
	return errs
}

// standardResource reports Kubernetes' resource names that need no domain
// (quota and LimitRange resources).
func standardResource(name string) bool {
	switch {
	case strings.HasPrefix(name, "requests.") || strings.HasPrefix(name, "limits.") || strings.HasPrefix(name, "count/"),
		strings.HasPrefix(name, corev1.ResourceHugePagesPrefix):
		return true
	}
	switch corev1.ResourceName(name) {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceStorage, corev1.ResourceEphemeralStorage,
		corev1.ResourcePods, corev1.ResourceServices, corev1.ResourceReplicationControllers, corev1.ResourceQuotas,
		corev1.ResourceSecrets, corev1.ResourceConfigMaps, corev1.ResourcePersistentVolumeClaims,
		corev1.ResourceServicesNodePorts, corev1.ResourceServicesLoadBalancers:
		return true
	}
	return false
}

var limitTypes = []corev1.LimitType{corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim}

// validateLimitRange is kube-apiserver's ValidateLimitRange: a known type,
// no defaults for Pod limits, and min <= defaultRequest <= default <= max,
// maxLimitRequestRatio >= 1, for each resource.
func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	var errs field.ErrorList
	for i := range lr.Spec.Limits {
		it := &lr.Spec.Limits[i]
		ip := field.NewPath("spec", "limits").Index(i)
		if !oneOf(it.Type, limitTypes) {
			errs = append(errs, field.NotSupported(ip.Child("type"), it.Type, limitTypes))
		}
		if it.Type == corev1.LimitTypePod {
			if len(it.Default) > 0 {
				errs = append(errs, field.Forbidden(ip.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(it.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(ip.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		errs = append(errs, validateLimitOrder(it, ip)...)
	}
	return errs
}

// validateLimitOrder checks the order of one LimitRange item's values.
func validateLimitOrder(it *corev1.LimitRangeItem, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	keys := sets.New[string]()
	for _, l := range []corev1.ResourceList{it.Max, it.Min, it.Default, it.DefaultRequest, it.MaxLimitRequestRatio} {
		keys.Insert(sortedKeys(l)...)
	}
	less := func(a, b corev1.ResourceList, k corev1.ResourceName) (resource.Quantity, resource.Quantity, bool) {
		qa, okA := a[k]
		qb, okB := b[k]
		return qa, qb, okA && okB && qa.Cmp(qb) > 0
	}
	for _, name := range sets.List(keys) {
		k := corev1.ResourceName(name)
		for _, c := range []struct {
			a, b    corev1.ResourceList
			at      string // the field reported
			reportA bool   // the value reported is a's (else b's)
			format  string
		}{
			{it.Min, it.Max, "min", true, "min value %s is greater than max value %s"},
			{it.Min, it.DefaultRequest, "defaultRequest", false, "min value %s is greater than default request value %s"},
			{it.DefaultRequest, it.Max, "defaultRequest", true, "default request value %s is greater than max value %s"},
			{it.DefaultRequest, it.Default, "defaultRequest", true, "default request value %s is greater than default limit value %s"},
			{it.Min, it.Default, "default", false, "min value %s is greater than default value %s"},
			{it.Default, it.Max, "default", true, "default value %s is greater than max value %s"},
		} {
			if qa, qb, bad := less(c.a, c.b, k); bad {
				v := qb
				if c.reportA {
					v = qa
				}
				errs = append(errs, field.Invalid(p.Child(c.at).Key(name), v.String(), fmt.Sprintf(c.format, qa.String(), qb.String())))
			}
		}
		if r, ok := it.MaxLimitRequestRatio[k]; ok && r.Cmp(resource.MustParse("1")) < 0 {
			errs = append(errs, field.Invalid(p.Child("maxLimitRequestRatio").Key(name), r.String(), fmt.Sprintf("ratio %s is less than 1", r.String())))
		}
	}
	return errs
}
