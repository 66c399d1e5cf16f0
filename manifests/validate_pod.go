package manifests

import (
	"fmt"
	"path"
	"strings"

	"github.com/distribution/reference"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podRules says where a pod spec appears.
type podRules struct {
	template string // owning workload kind for templates ("" for a Pod)
	// job is set for the templates of Jobs (and CronJobs): restartPolicy
	// OnFailure or Never, and activeDeadlineSeconds allowed.
	job bool
	// claimVolumes are volumes the owner adds to its pods (a StatefulSet's
	// volumeClaimTemplates), which volumeMounts may name.
	claimVolumes []string
}

func dnsLabel(v string, p *field.Path) field.ErrorList {
	return invalid(p, v, validation.IsDNS1123Label(v))
}

func dnsSubdomain(v string, p *field.Path) field.ErrorList {
	return invalid(p, v, validation.IsDNS1123Subdomain(v))
}

// Limits of a pod's dnsConfig, as the API server's (and glibc's).
const (
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
)

// validateDNSConfig checks a pod's dnsConfig as the API server does: at most
// 3 nameservers, each an IP address; at most 32 search domains, each a DNS
// subdomain (a trailing dot allowed), 2048 characters in all; options named.
func validateDNSConfig(c *corev1.PodDNSConfig, p *field.Path) field.ErrorList {
	if c == nil {
		return nil
	}
	var errs field.ErrorList
	if len(c.Nameservers) > maxDNSNameservers {
		errs = append(errs, field.Invalid(p.Child("nameservers"), c.Nameservers, fmt.Sprintf("must not have more than %d nameservers", maxDNSNameservers)))
	}
	for i, ns := range c.Nameservers {
		if len(validation.IsValidIP(p.Child("nameservers").Index(i), ns)) > 0 {
			errs = append(errs, field.Invalid(p.Child("nameservers").Index(i), ns, "must be a valid IP address"))
		}
	}
	if len(c.Searches) > maxDNSSearchPaths {
		errs = append(errs, field.Invalid(p.Child("searches"), c.Searches, fmt.Sprintf("must not have more than %d search paths", maxDNSSearchPaths)))
	}
	if n := len(strings.Join(c.Searches, " ")); n > maxDNSSearchListChars {
		errs = append(errs, field.Invalid(p.Child("searches"), c.Searches, fmt.Sprintf("must not have more than %d characters (including spaces) in the search list", maxDNSSearchListChars)))
	}
	for i, s := range c.Searches {
		errs = append(errs, dnsSubdomain(strings.TrimSuffix(s, "."), p.Child("searches").Index(i))...)
	}
	for i, o := range c.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(p.Child("options").Index(i).Child("name"), "an option needs a name"))
		}
	}
	return errs
}

func validatePodSpec(s *corev1.PodSpec, p *field.Path, r podRules) field.ErrorList {
	var errs field.ErrorList
	vols, verrs := validateVolumes(s.Volumes, p.Child("volumes"))
	errs = append(errs, verrs...)
	vols.Insert(r.claimVolumes...)
	names := sets.New[string]()
	errs = append(errs, validateContainers(s.InitContainers, true, vols, names, s, p.Child("initContainers"))...)
	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), "a pod needs at least one container"))
	}
	errs = append(errs, validateContainers(s.Containers, false, vols, names, s, p.Child("containers"))...)

	restart := []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	switch {
	case r.job && (s.RestartPolicy == corev1.RestartPolicyAlways || s.RestartPolicy == ""):
		errs = append(errs, field.Required(p.Child("restartPolicy"), fmt.Sprintf("valid values: %q, %q", corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever)))
	case r.job:
		if !oneOf(s.RestartPolicy, restart) {
			errs = append(errs, field.NotSupported(p.Child("restartPolicy"), s.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
		}
	case r.template != "" && s.RestartPolicy != corev1.RestartPolicyAlways:
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), s.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	case !oneOf(s.RestartPolicy, restart):
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), s.RestartPolicy, restart))
	}
	dns := []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}
	if !oneOf(s.DNSPolicy, dns) {
		errs = append(errs, field.NotSupported(p.Child("dnsPolicy"), s.DNSPolicy, dns))
	} else if s.DNSPolicy == corev1.DNSNone && (s.DNSConfig == nil || len(s.DNSConfig.Nameservers) == 0) {
		errs = append(errs, field.Required(p.Child("dnsConfig", "nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is 'None'"))
	}
	errs = append(errs, validateDNSConfig(s.DNSConfig, p.Child("dnsConfig"))...)
	for i, a := range s.HostAliases {
		ap := p.Child("hostAliases").Index(i)
		if len(validation.IsValidIP(ap.Child("ip"), a.IP)) > 0 {
			errs = append(errs, field.Invalid(ap.Child("ip"), a.IP, "must be a valid IP address"))
		}
		for j, h := range a.Hostnames {
			errs = append(errs, dnsSubdomain(h, ap.Child("hostnames").Index(j))...)
		}
	}
	if s.TerminationGracePeriodSeconds != nil {
		errs = append(errs, nonNegative(*s.TerminationGracePeriodSeconds, p.Child("terminationGracePeriodSeconds"))...)
	}
	if s.ActiveDeadlineSeconds != nil {
		switch {
		case r.template != "" && !r.job:
			errs = append(errs, field.Forbidden(p.Child("activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not supported", r.template)))
		case *s.ActiveDeadlineSeconds <= 0:
			errs = append(errs, field.Invalid(p.Child("activeDeadlineSeconds"), *s.ActiveDeadlineSeconds, "must be greater than 0"))
		}
	}
	errs = append(errs, validateLabels(s.NodeSelector, p.Child("nodeSelector"))...)
	if s.ServiceAccountName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(s.ServiceAccountName, false) {
			errs = append(errs, field.Invalid(p.Child("serviceAccountName"), s.ServiceAccountName, msg))
		}
	}
	if s.Hostname != "" {
		errs = append(errs, dnsLabel(s.Hostname, p.Child("hostname"))...)
	}
	if s.Subdomain != "" {
		errs = append(errs, dnsLabel(s.Subdomain, p.Child("subdomain"))...)
	}
	if s.PriorityClassName != "" {
		errs = append(errs, dnsSubdomain(s.PriorityClassName, p.Child("priorityClassName"))...)
	}
	for i, sec := range s.ImagePullSecrets {
		if sec.Name == "" {
			errs = append(errs, field.Required(p.Child("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	errs = append(errs, validateTolerations(s.Tolerations, p.Child("tolerations"))...)
	errs = append(errs, uniqueHostPorts(s.Containers, p.Child("containers"))...)
	if s.HostNetwork {
		for i, c := range s.Containers {
			for j, port := range c.Ports {
				if port.HostPort != port.ContainerPort {
					errs = append(errs, field.Invalid(p.Child("containers").Index(i).Child("ports").Index(j).Child("hostPort"), port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
				}
			}
		}
	}
	return errs
}

func oneOf[T comparable](v T, allowed []T) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func validateTolerations(ts []corev1.Toleration, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	effects := []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}
	for i, t := range ts {
		tp := p.Index(i)
		if t.Key != "" {
			errs = append(errs, validateQualifiedName(t.Key, tp.Child("key"))...)
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			if t.Key == "" {
				errs = append(errs, field.Invalid(tp.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
			}
			errs = append(errs, invalid(tp.Child("value"), t.Value, validation.IsValidLabelValue(t.Value))...)
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(tp.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(tp.Child("operator"), t.Operator, []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
		}
		if t.Effect != "" && !oneOf(t.Effect, effects) {
			errs = append(errs, field.NotSupported(tp.Child("effect"), t.Effect, effects))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(tp.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
	}
	return errs
}

// uniqueDNSLabel checks the name at p of an entry in a list (volumes,
// containers) whose names are DNS labels, unique among names; it adds a name
// not seen before to names.
func uniqueDNSLabel(name string, names sets.Set[string], p *field.Path) field.ErrorList {
	switch {
	case name == "":
		return field.ErrorList{field.Required(p, "")}
	case names.Has(name):
		return field.ErrorList{field.Duplicate(p, name)}
	}
	names.Insert(name)
	return dnsLabel(name, p)
}

func validateVolumes(vols []corev1.Volume, p *field.Path) (sets.Set[string], field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, v := range vols {
		vp := p.Index(i)
		errs = append(errs, uniqueDNSLabel(v.Name, names, vp.Child("name"))...)
		vs := &v.VolumeSource
		switch n := countVolumeSources(vs); {
		case n == 0:
			errs = append(errs, field.Required(vp, "must specify a volume type"))
		case n > 1:
			errs = append(errs, field.Forbidden(vp, "may not specify more than 1 volume type"))
		}
		switch {
		case vs.ConfigMap != nil:
			cm := vs.ConfigMap
			errs = append(errs, validateObjectVolume(cm.Name, "name", cm.DefaultMode, cm.Items, vp.Child("configMap"))...)
		case vs.Secret != nil:
			sec := vs.Secret
			errs = append(errs, validateObjectVolume(sec.SecretName, "secretName", sec.DefaultMode, sec.Items, vp.Child("secret"))...)
		case vs.HostPath != nil:
			hp := vp.Child("hostPath")
			if vs.HostPath.Path == "" {
				errs = append(errs, field.Required(hp.Child("path"), ""))
			}
			types := []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory, corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev}
			if vs.HostPath.Type != nil && !oneOf(*vs.HostPath.Type, types) {
				errs = append(errs, field.NotSupported(hp.Child("type"), *vs.HostPath.Type, types))
			}
		case vs.EmptyDir != nil:
			ep := vp.Child("emptyDir")
			media := []corev1.StorageMedium{corev1.StorageMediumDefault, corev1.StorageMediumMemory, corev1.StorageMediumHugePages}
			if !oneOf(vs.EmptyDir.Medium, media) && !strings.HasPrefix(string(vs.EmptyDir.Medium), string(corev1.StorageMediumHugePagesPrefix)) {
				errs = append(errs, field.NotSupported(ep.Child("medium"), vs.EmptyDir.Medium, media))
			}
			if vs.EmptyDir.SizeLimit != nil && vs.EmptyDir.SizeLimit.Sign() < 0 {
				errs = append(errs, field.Invalid(ep.Child("sizeLimit"), vs.EmptyDir.SizeLimit.String(), "must be greater than or equal to 0"))
			}
		case vs.PersistentVolumeClaim != nil:
			if vs.PersistentVolumeClaim.ClaimName == "" {
				errs = append(errs, field.Required(vp.Child("persistentVolumeClaim", "claimName"), ""))
			}
		case vs.DownwardAPI != nil:
			dp := vp.Child("downwardAPI")
			errs = append(errs, validateMode(vs.DownwardAPI.DefaultMode, dp.Child("defaultMode"))...)
			for j, it := range vs.DownwardAPI.Items {
				errs = append(errs, validateLocalPath(it.Path, dp.Child("items").Index(j).Child("path"))...)
			}
		case vs.Projected != nil:
			errs = append(errs, validateMode(vs.Projected.DefaultMode, vp.Child("projected", "defaultMode"))...)
		}
	}
	return names, errs
}

func validateMode(m *int32, p *field.Path) field.ErrorList {
	if m != nil && (*m < 0 || *m > 0777) {
		return field.ErrorList{field.Invalid(p, *m, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := p.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		errs = append(errs, validateLocalPath(it.Path, ip.Child("path"))...)
		errs = append(errs, validateMode(it.Mode, ip.Child("mode"))...)
	}
	return errs
}

// validateLocalPath checks a required relative path that stays below its root.
func validateLocalPath(v string, p *field.Path) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return validateSubPath(v, p)
}

func validateSubPath(v string, p *field.Path) field.ErrorList {
	if path.IsAbs(v) {
		return field.ErrorList{field.Invalid(p, v, "must be a relative path")}
	}
	for _, part := range strings.Split(v, "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(p, v, "must not contain '..'")}
		}
	}
	return nil
}

func validateContainers(cs []corev1.Container, init bool, vols sets.Set[string], names sets.Set[string], spec *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range cs {
		c := &cs[i]
		cp := p.Index(i)
		errs = append(errs, uniqueDNSLabel(c.Name, names, cp.Child("name"))...)
		switch {
		case c.Image == "":
			errs = append(errs, field.Required(cp.Child("image"), "every container needs an image"))
		case strings.TrimSpace(c.Image) != c.Image:
			errs = append(errs, field.Invalid(cp.Child("image"), c.Image, "must not have leading or trailing whitespace"))
		default:
			errs = append(errs, validateImage(c.Image, cp.Child("image"))...)
		}
		pull := []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
		if !oneOf(c.ImagePullPolicy, pull) {
			errs = append(errs, field.NotSupported(cp.Child("imagePullPolicy"), c.ImagePullPolicy, pull))
		}
		tmp := []corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError}
		if !oneOf(c.TerminationMessagePolicy, tmp) {
			errs = append(errs, field.NotSupported(cp.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, tmp))
		}
		errs = append(errs, validateContainerPorts(c.Ports, cp.Child("ports"))...)
		errs = append(errs, validateEnv(c.Env, cp.Child("env"))...)
		errs = append(errs, validateEnvFrom(c.EnvFrom, cp.Child("envFrom"))...)
		errs = append(errs, validateResources(&c.Resources, cp.Child("resources"))...)
		errs = append(errs, validateVolumeMounts(c.VolumeMounts, vols, cp.Child("volumeMounts"))...)
		sidecar := init && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		switch {
		case c.RestartPolicy != nil && init && *c.RestartPolicy != corev1.ContainerRestartPolicyAlways:
			errs = append(errs, field.NotSupported(cp.Child("restartPolicy"), *c.RestartPolicy, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
		case c.RestartPolicy != nil && !init:
			errs = append(errs, field.Forbidden(cp.Child("restartPolicy"), "may not be set for non-init containers"))
		}
		probes := []struct {
			name  string
			probe *corev1.Probe
		}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}}
		for _, pr := range probes {
			if pr.probe == nil {
				continue
			}
			if init && !sidecar {
				errs = append(errs, field.Forbidden(cp.Child(pr.name), "may not be set for init containers without restartPolicy=Always"))
				continue
			}
			errs = append(errs, validateProbe(pr.probe, pr.name != "readinessProbe", cp.Child(pr.name))...)
		}
		if c.Lifecycle != nil {
			if init && !sidecar {
				errs = append(errs, field.Forbidden(cp.Child("lifecycle"), "may not be set for init containers without restartPolicy=Always"))
			} else {
				for _, h := range []struct {
					name string
					h    *corev1.LifecycleHandler
				}{{"postStart", c.Lifecycle.PostStart}, {"preStop", c.Lifecycle.PreStop}} {
					if h.h != nil {
						errs = append(errs, validateLifecycleHandler(h.h, cp.Child("lifecycle", h.name))...)
					}
				}
			}
		}
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		pp := p.Index(i)
		if port.Name != "" {
			errs = append(errs, invalid(pp.Child("name"), port.Name, validation.IsValidPortName(port.Name))...)
			if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names.Insert(port.Name)
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			errs = append(errs, invalid(pp.Child("containerPort"), port.ContainerPort, validation.IsValidPortNum(int(port.ContainerPort)))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, invalid(pp.Child("hostPort"), port.HostPort, validation.IsValidPortNum(int(port.HostPort)))...)
		}
		errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
	}
	return errs
}

var protocols = []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP}

func validateProtocol(v corev1.Protocol, p *field.Path) field.ErrorList {
	if !oneOf(v, protocols) {
		return field.ErrorList{field.NotSupported(p, v, protocols)}
	}
	return nil
}

var (
	fieldRefPaths    = []string{"metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels", "metadata.annotations", "spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}
	resourceRefNames = []string{"limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage"}
)

func validateEnv(env []corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, e := range env {
		ep := p.Index(i)
		if e.Name == "" {
			errs = append(errs, field.Required(ep.Child("name"), ""))
		} else {
			errs = append(errs, invalid(ep.Child("name"), e.Name, validation.IsRelaxedEnvVarName(e.Name))...)
		}
		if e.ValueFrom == nil {
			continue
		}
		vp := ep.Child("valueFrom")
		if e.Value != "" {
			errs = append(errs, field.Invalid(vp, field.OmitValueType{}, "may not be specified when `value` is not empty"))
		}
		vf := e.ValueFrom
		n := 0
		if vf.FieldRef != nil {
			n++
			fp := vp.Child("fieldRef", "fieldPath")
			switch fpath := vf.FieldRef.FieldPath; {
			case fpath == "":
				errs = append(errs, field.Required(fp, ""))
			case strings.HasPrefix(fpath, "metadata.labels[") || strings.HasPrefix(fpath, "metadata.annotations["):
			case !oneOf(fpath, fieldRefPaths):
				errs = append(errs, field.NotSupported(fp, fpath, fieldRefPaths))
			}
		}
		if vf.ResourceFieldRef != nil {
			n++
			rp := vp.Child("resourceFieldRef", "resource")
			if vf.ResourceFieldRef.Resource == "" {
				errs = append(errs, field.Required(rp, ""))
			} else if !oneOf(vf.ResourceFieldRef.Resource, resourceRefNames) && !strings.Contains(vf.ResourceFieldRef.Resource, "hugepages-") {
				errs = append(errs, field.NotSupported(rp, vf.ResourceFieldRef.Resource, resourceRefNames))
			}
		}
		if vf.ConfigMapKeyRef != nil {
			n++
			errs = append(errs, validateKeyRef(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, vp.Child("configMapKeyRef"))...)
		}
		if vf.SecretKeyRef != nil {
			n++
			errs = append(errs, validateKeyRef(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, vp.Child("secretKeyRef"))...)
		}
		if vf.FileKeyRef != nil {
			n++
		}
		errs = append(errs, validateOneOf(n, "`fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`", vp)...)
	}
	return errs
}

// validateOneOf requires exactly one of the n fields set at p; which lists
// the fields allowed there.
func validateOneOf(n int, which string, p *field.Path) field.ErrorList {
	switch {
	case n == 0:
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "must specify one of: "+which)}
	case n > 1:
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "may not have more than one field specified at a time")}
	}
	return nil
}

func validateKeyRef(name, key string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	if key == "" {
		errs = append(errs, field.Required(p.Child("key"), ""))
	} else {
		errs = append(errs, invalid(p.Child("key"), key, validation.IsConfigMapKey(key))...)
	}
	return errs
}

func validateEnvFrom(env []corev1.EnvFromSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, e := range env {
		ep := p.Index(i)
		if e.Prefix != "" {
			errs = append(errs, invalid(ep.Child("prefix"), e.Prefix, validation.IsRelaxedEnvVarName(e.Prefix))...)
		}
		n := 0
		if e.ConfigMapRef != nil {
			n++
			if e.ConfigMapRef.Name == "" {
				errs = append(errs, field.Required(ep.Child("configMapRef", "name"), ""))
			}
		}
		if e.SecretRef != nil {
			n++
			if e.SecretRef.Name == "" {
				errs = append(errs, field.Required(ep.Child("secretRef", "name"), ""))
			}
		}
		errs = append(errs, validateOneOf(n, "`configMapRef` or `secretRef`", ep)...)
	}
	return errs
}

var standardResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage}

func isExtendedResource(name corev1.ResourceName) bool {
	return strings.Contains(string(name), "/") && !strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

func validateResourceList(rl corev1.ResourceList, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(rl) {
		name := corev1.ResourceName(k)
		q := rl[name]
		kp := p.Key(k)
		switch {
		case oneOf(name, standardResources), strings.HasPrefix(k, corev1.ResourceHugePagesPrefix):
		case strings.Contains(k, "/"):
			errs = append(errs, validateQualifiedName(k, kp)...)
		default:
			errs = append(errs, field.Invalid(kp, k, "must be a standard resource type (cpu, memory, ephemeral-storage, hugepages-<size>) or a fully qualified extended resource name such as example.com/gpu"))
			continue
		}
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(kp, q.String(), "must be greater than or equal to 0"))
		}
		if isExtendedResource(name) && q.MilliValue()%1000 != 0 {
			errs = append(errs, field.Invalid(kp, q.String(), "must be an integer"))
		}
	}
	return errs
}

func validateResources(r *corev1.ResourceRequirements, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	lp, rp := p.Child("limits"), p.Child("requests")
	errs = append(errs, validateResourceList(r.Limits, lp)...)
	// Requests equal to their limit (Pods get them copied from limits by
	// defaulting) would only repeat the limit's problems.
	reqs := corev1.ResourceList{}
	for k, v := range r.Requests {
		if lim, ok := r.Limits[k]; !ok || lim.Cmp(v) != 0 {
			reqs[k] = v
		}
	}
	errs = append(errs, validateResourceList(reqs, rp)...)
	for _, k := range sortedKeys(r.Requests) {
		name := corev1.ResourceName(k)
		req := r.Requests[name]
		lim, ok := r.Limits[name]
		switch {
		case ok && req.Cmp(lim) > 0:
			errs = append(errs, field.Invalid(rp.Key(k), req.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", k, lim.String())))
		case isExtendedResource(name) && !ok:
			errs = append(errs, field.Required(lp.Key(k), "limit must be set for an extended resource that has a request"))
		case isExtendedResource(name) && req.Cmp(lim) != 0:
			errs = append(errs, field.Invalid(rp.Key(k), req.String(), fmt.Sprintf("must be equal to %s limit of %s", k, lim.String())))
		}
	}
	return errs
}

func validateVolumeMounts(ms []corev1.VolumeMount, vols sets.Set[string], p *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := sets.New[string]()
	for i, m := range ms {
		mp := p.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		} else if !vols.Has(m.Name) {
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		} else if paths.Has(m.MountPath) {
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths.Insert(m.MountPath)
		if m.SubPath != "" {
			errs = append(errs, validateSubPath(m.SubPath, mp.Child("subPath"))...)
		}
	}
	return errs
}

// validateObjectVolume checks a configMap or secret volume at p: the object's
// name (field nameField), the default mode and the items.
func validateObjectVolume(name, nameField string, mode *int32, items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child(nameField), ""))
	}
	errs = append(errs, validateMode(mode, p.Child("defaultMode"))...)
	return append(errs, validateKeyToPaths(items, p.Child("items"))...)
}

// validatePortNumOrName checks a probe or Service target port.
func validatePortNumOrName(v intstr.IntOrString, p *field.Path) field.ErrorList {
	if v.Type == intstr.Int {
		return invalid(p, v.IntVal, validation.IsValidPortNum(int(v.IntVal)))
	}
	return invalid(p, v.StrVal, validation.IsValidPortName(v.StrVal))
}

func validateProbe(pr *corev1.Probe, mustSucceedOnce bool, p *field.Path) field.ErrorList {
	n, errs := validateHandlers(pr.Exec, pr.HTTPGet, pr.TCPSocket, p)
	if pr.GRPC != nil {
		n++
		errs = append(errs, invalid(p.Child("grpc", "port"), pr.GRPC.Port, validation.IsValidPortNum(int(pr.GRPC.Port)))...)
	}
	errs = append(errs, validateHandlerCount(n, "exec, httpGet, tcpSocket or grpc", p)...)
	errs = append(errs, nonNegative(int64(pr.InitialDelaySeconds), p.Child("initialDelaySeconds"))...)
	errs = append(errs, nonNegative(int64(pr.TimeoutSeconds), p.Child("timeoutSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.PeriodSeconds), p.Child("periodSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.SuccessThreshold), p.Child("successThreshold"))...)
	errs = append(errs, nonNegative(int64(pr.FailureThreshold), p.Child("failureThreshold"))...)
	if mustSucceedOnce && pr.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	if pr.TerminationGracePeriodSeconds != nil {
		if !mustSucceedOnce {
			errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *pr.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
		} else if *pr.TerminationGracePeriodSeconds <= 0 {
			errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *pr.TerminationGracePeriodSeconds, "must be greater than 0"))
		}
	}
	return errs
}

func validateHTTPGet(h *corev1.HTTPGetAction, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validatePortNumOrName(h.Port, p.Child("port"))...)
	schemes := []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}
	if !oneOf(h.Scheme, schemes) {
		errs = append(errs, field.NotSupported(p.Child("scheme"), h.Scheme, schemes))
	}
	for i, hdr := range h.HTTPHeaders {
		errs = append(errs, invalid(p.Child("httpHeaders").Index(i).Child("name"), hdr.Name, validation.IsHTTPHeaderName(hdr.Name))...)
	}
	return errs
}

func validateLifecycleHandler(h *corev1.LifecycleHandler, p *field.Path) field.ErrorList {
	n, errs := validateHandlers(h.Exec, h.HTTPGet, h.TCPSocket, p)
	if h.Sleep != nil {
		n++
		if h.Sleep.Seconds < 0 {
			errs = append(errs, field.Invalid(p.Child("sleep", "seconds"), h.Sleep.Seconds, "must be greater than or equal to 0"))
		}
	}
	return append(errs, validateHandlerCount(n, "exec, httpGet, tcpSocket or sleep", p)...)
}

// validateHandlers checks the exec, httpGet and tcpSocket handlers that probes
// and lifecycle hooks share, and returns how many of them are set.
func validateHandlers(exec *corev1.ExecAction, httpGet *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, p *field.Path) (int, field.ErrorList) {
	var errs field.ErrorList
	n := 0
	if exec != nil {
		n++
		if len(exec.Command) == 0 {
			errs = append(errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if httpGet != nil {
		n++
		errs = append(errs, validateHTTPGet(httpGet, p.Child("httpGet"))...)
	}
	if tcp != nil {
		n++
		errs = append(errs, validatePortNumOrName(tcp.Port, p.Child("tcpSocket", "port"))...)
	}
	return n, errs
}

// validateHandlerCount requires exactly one handler at p; kinds lists the
// handler types allowed there.
func validateHandlerCount(n int, kinds string, p *field.Path) field.ErrorList {
	switch {
	case n == 0:
		return field.ErrorList{field.Required(p, "must specify a handler type: "+kinds)}
	case n > 1:
		return field.ErrorList{field.Forbidden(p, "may not specify more than 1 handler type")}
	}
	return nil
}

// validateImage parses an image reference as the container runtime will
// (docker.io/library/ is implied for short names) and reports the parser's
// reason when it cannot.
func validateImage(image string, p *field.Path) field.ErrorList {
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return field.ErrorList{field.Invalid(p, image, "not a valid image reference: "+err.Error())}
	}
	return nil
}

// hostPortUse is a container port that claims a host port.
type hostPortUse struct {
	container string
	path      *field.Path
}

// uniqueHostPorts reports a host port claimed twice in one pod for the same
// protocol and host IP, as Kubernetes' AccumulateUniqueHostPorts does
// (hostIP compared as written, so "" and "0.0.0.0" differ), naming both
// containers and ports.
func uniqueHostPorts(cs []corev1.Container, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]hostPortUse{}
	for i, c := range cs {
		for j, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			pp := p.Index(i).Child("ports").Index(j)
			key := fmt.Sprintf("%s/%s/%d", port.HostIP, port.Protocol, port.HostPort)
			if first, dup := seen[key]; dup {
				errs = append(errs, field.Invalid(pp.Child("hostPort"), port.HostPort, fmt.Sprintf(
					"hostPort %d/%s%s of container %q is already used by container %q (%s); a pod may use each hostPort, protocol and hostIP once",
					port.HostPort, port.Protocol, hostIPSuffix(port.HostIP), c.Name, first.container, first.path)))
				continue
			}
			seen[key] = hostPortUse{container: c.Name, path: pp}
		}
	}
	return errs
}

// hostIPSuffix renders a hostIP for messages: "" or " on 10.0.0.1".
func hostIPSuffix(ip string) string {
	if ip == "" {
		return ""
	}
	return " on " + ip
}
