package manifests

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// NodePortMin and NodePortMax bound the nodePorts a Service may ask for, as
// Kubernetes' default --service-node-port-range does.
const (
	NodePortMin = 30000
	NodePortMax = 32767
)

var serviceTypes = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName}

func validateService(o *corev1.Service) field.ErrorList {
	p := field.NewPath("spec")
	s := &o.Spec
	var errs field.ErrorList
	if !oneOf(s.Type, serviceTypes) {
		errs = append(errs, field.NotSupported(p.Child("type"), s.Type, serviceTypes))
	}
	headless := s.ClusterIP == corev1.ClusterIPNone
	nodePorts := s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer

	switch {
	case s.Type == corev1.ServiceTypeExternalName:
		if s.ClusterIP != "" {
			errs = append(errs, field.Forbidden(p.Child("clusterIP"), "must not be set for ExternalName services"))
		}
		name := strings.TrimSuffix(s.ExternalName, ".")
		if name == "" {
			errs = append(errs, field.Required(p.Child("externalName"), "an ExternalName service needs the DNS name it points to"))
		} else {
			errs = append(errs, dnsSubdomain(name, p.Child("externalName"))...)
		}
	case headless:
		if nodePorts {
			errs = append(errs, field.Invalid(p.Child("clusterIP"), s.ClusterIP, fmt.Sprintf("may not be set to 'None' for %s services", s.Type)))
		}
	case s.ClusterIP != "":
		errs = append(errs, validation.IsValidIP(p.Child("clusterIP"), s.ClusterIP)...)
	}
	if len(s.ClusterIPs) > 0 && s.ClusterIP != "" && s.ClusterIPs[0] != s.ClusterIP {
		errs = append(errs, field.Invalid(p.Child("clusterIPs").Index(0), s.ClusterIPs[0], "must be the same as `clusterIP`"))
	}

	if len(s.Ports) == 0 && !headless && s.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(p.Child("ports"), "a Service needs at least one port (or clusterIP: None for a headless Service)"))
	}
	names := sets.New[string]()
	type portKey struct {
		port  int32
		proto corev1.Protocol
	}
	ports := map[portKey]bool{}
	nps := map[portKey]bool{}
	for i, port := range s.Ports {
		pp := p.Child("ports").Index(i)
		switch {
		case port.Name == "" && len(s.Ports) > 1:
			errs = append(errs, field.Required(pp.Child("name"), "every port needs a name when a Service has more than one port"))
		case port.Name != "":
			errs = append(errs, dnsLabel(port.Name, pp.Child("name"))...)
			if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names.Insert(port.Name)
		}
		errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
		errs = append(errs, invalid(pp.Child("port"), port.Port, validation.IsValidPortNum(int(port.Port)))...)
		k := portKey{port.Port, port.Protocol}
		if ports[k] {
			errs = append(errs, field.Duplicate(pp, fmt.Sprintf("%d/%s", port.Port, port.Protocol)))
		}
		ports[k] = true
		errs = append(errs, validatePortNumOrName(port.TargetPort, pp.Child("targetPort"))...)
		if port.AppProtocol != nil {
			errs = append(errs, validateQualifiedName(*port.AppProtocol, pp.Child("appProtocol"))...)
		}
		if port.NodePort != 0 {
			np := pp.Child("nodePort")
			switch {
			case !nodePorts:
				errs = append(errs, field.Forbidden(np, fmt.Sprintf("may not be used when `type` is '%s'; use type NodePort or LoadBalancer", s.Type)))
			case port.NodePort < NodePortMin || port.NodePort > NodePortMax:
				errs = append(errs, field.Invalid(np, port.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", NodePortMin, NodePortMax)))
			default:
				k := portKey{port.NodePort, port.Protocol}
				if nps[k] {
					errs = append(errs, field.Duplicate(np, fmt.Sprintf("%d/%s", port.NodePort, port.Protocol)))
				}
				nps[k] = true
			}
		}
	}

	errs = append(errs, validateLabels(s.Selector, p.Child("selector"))...)

	affinities := []corev1.ServiceAffinity{corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP}
	if !oneOf(s.SessionAffinity, affinities) {
		errs = append(errs, field.NotSupported(p.Child("sessionAffinity"), s.SessionAffinity, affinities))
	}
	if s.SessionAffinity == corev1.ServiceAffinityClientIP && s.SessionAffinityConfig != nil && s.SessionAffinityConfig.ClientIP != nil && s.SessionAffinityConfig.ClientIP.TimeoutSeconds != nil {
		if t := *s.SessionAffinityConfig.ClientIP.TimeoutSeconds; t <= 0 || t > maxClientIPAffinitySeconds {
			errs = append(errs, field.Invalid(p.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t, fmt.Sprintf("must be greater than 0 and less than or equal to %d", maxClientIPAffinitySeconds)))
		}
	}
	if s.ExternalTrafficPolicy != "" {
		policies := []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
		switch {
		case !nodePorts:
			errs = append(errs, field.Invalid(p.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
		case !oneOf(s.ExternalTrafficPolicy, policies):
			errs = append(errs, field.NotSupported(p.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, policies))
		}
	}
	if s.InternalTrafficPolicy != nil {
		policies := []corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}
		if !oneOf(*s.InternalTrafficPolicy, policies) {
			errs = append(errs, field.NotSupported(p.Child("internalTrafficPolicy"), *s.InternalTrafficPolicy, policies))
		}
	}
	if s.IPFamilyPolicy != nil {
		policies := []corev1.IPFamilyPolicy{corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack}
		if !oneOf(*s.IPFamilyPolicy, policies) {
			errs = append(errs, field.NotSupported(p.Child("ipFamilyPolicy"), *s.IPFamilyPolicy, policies))
		}
	}
	for i, ip := range s.ExternalIPs {
		errs = append(errs, validation.IsValidIP(p.Child("externalIPs").Index(i), ip)...)
	}
	if len(s.LoadBalancerSourceRanges) > 0 && s.Type != corev1.ServiceTypeLoadBalancer {
		errs = append(errs, field.Forbidden(p.Child("loadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"))
	}
	for i, r := range s.LoadBalancerSourceRanges {
		errs = append(errs, validation.IsValidCIDR(p.Child("loadBalancerSourceRanges").Index(i), strings.TrimSpace(r))...)
	}
	return errs
}

func validateDataKeys[V any](m map[string]V, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range sortedKeys(m) {
		errs = append(errs, invalid(p.Key(k), k, validation.IsConfigMapKey(k))...)
	}
	return errs
}

func validateConfigMap(o *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateDataKeys(o.Data, field.NewPath("data"))...)
	errs = append(errs, validateDataKeys(o.BinaryData, field.NewPath("binaryData"))...)
	size := 0
	for k, v := range o.Data {
		size += len(k) + len(v)
	}
	for _, k := range sortedKeys(o.BinaryData) {
		size += len(k) + len(o.BinaryData[k])
		if _, ok := o.Data[k]; ok {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(k), k, "duplicate of key present in data"))
		}
	}
	if size > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", corev1.MaxSecretSize))
	}
	return errs
}

func validateSecret(o *corev1.Secret) field.ErrorList {
	dp := field.NewPath("data")
	errs := validateDataKeys(o.Data, dp)
	errs = append(errs, validateDataKeys(o.StringData, field.NewPath("stringData"))...)
	size := 0
	for k, v := range o.Data {
		size += len(k) + len(v)
	}
	if size > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(dp, "", corev1.MaxSecretSize))
	}
	need := func(keys ...string) {
		for _, k := range keys {
			if _, ok := o.Data[k]; !ok {
				errs = append(errs, field.Required(dp.Key(k), fmt.Sprintf("a Secret of type %s needs this key", o.Type)))
			}
		}
	}
	switch o.Type {
	case corev1.SecretTypeServiceAccountToken:
		if o.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		need(corev1.DockerConfigKey)
		errs = append(errs, validateJSONKey(o.Data, corev1.DockerConfigKey, dp)...)
	case corev1.SecretTypeDockerConfigJson:
		need(corev1.DockerConfigJsonKey)
		errs = append(errs, validateJSONKey(o.Data, corev1.DockerConfigJsonKey, dp)...)
	case corev1.SecretTypeBasicAuth:
		_, u := o.Data[corev1.BasicAuthUsernameKey]
		_, pw := o.Data[corev1.BasicAuthPasswordKey]
		if !u && !pw {
			errs = append(errs, field.Required(dp.Key(corev1.BasicAuthUsernameKey), "a basic-auth Secret needs username or password"))
		}
	case corev1.SecretTypeSSHAuth:
		need(corev1.SSHAuthPrivateKey)
	case corev1.SecretTypeTLS:
		need(corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	return errs
}

func validateJSONKey(data map[string][]byte, key string, p *field.Path) field.ErrorList {
	v, ok := data[key]
	if !ok {
		return nil
	}
	var x map[string]any
	if err := json.Unmarshal(v, &x); err != nil {
		return field.ErrorList{field.Invalid(p.Key(key), field.OmitValueType{}, redactedJSONError(err))}
	}
	return nil
}

// maxClientIPAffinitySeconds is the longest ClientIP session affinity (one day).
const maxClientIPAffinitySeconds = 86400

// redactedJSONError describes why a Secret value is not a JSON object
// without quoting any of it (json's syntax errors quote the character
// they stopped at).
func redactedJSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("must be a JSON object: invalid JSON at byte %d (the value is secret and not shown)", se.Offset)
	}
	return "must be a JSON object (the value is secret and not shown)"
}
