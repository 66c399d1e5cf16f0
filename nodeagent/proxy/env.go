package proxy

import (
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// masterServices are the Services of namespace default that every pod sees,
// whatever its namespace, as kubelet does.
var masterServices = map[string]bool{"kubernetes": true}

// ServiceEnv returns the environment variables that tell a pod in namespace
// about Services, as Kubernetes' kubelet does: for every Service of that
// namespace (and the "kubernetes" Service of namespace default) that has a
// cluster IP, {NAME}_SERVICE_HOST, {NAME}_SERVICE_PORT (the first port),
// {NAME}_SERVICE_PORT_{PORTNAME} for named ports, and the Docker-link style
// {NAME}_PORT, {NAME}_PORT_{port}_{PROTO}, ..._PROTO, ..._PORT, ..._ADDR.
// NAME is the Service name in upper case with '-' as '_'. Headless and
// ExternalName Services give nothing. The result is sorted by Service
// name and is the same for the same input; the caller passes the Services
// that existed when the pod started.
func ServiceEnv(services []*corev1.Service, namespace string) []corev1.EnvVar {
	chosen := map[string]*corev1.Service{}
	for _, s := range services {
		if !proxied(s) {
			continue
		}
		if s.Namespace == namespace {
			chosen[s.Name] = s
		}
	}
	for _, s := range services {
		if proxied(s) && s.Namespace == corev1.NamespaceDefault && masterServices[s.Name] {
			if _, taken := chosen[s.Name]; !taken {
				chosen[s.Name] = s
			}
		}
	}
	names := make([]string, 0, len(chosen))
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []corev1.EnvVar
	for _, n := range names {
		out = append(out, serviceVars(chosen[n])...)
	}
	return out
}

// envName turns a Service or port name into an environment variable prefix.
func envName(s string) string {
	return strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
}

// serviceVars returns the variables of one Service with a cluster IP.
func serviceVars(s *corev1.Service) []corev1.EnvVar {
	name := envName(s.Name)
	ip := s.Spec.ClusterIP
	var out []corev1.EnvVar
	add := func(k, v string) { out = append(out, corev1.EnvVar{Name: k, Value: v}) }
	add(name+"_SERVICE_HOST", ip)
	for i, p := range s.Spec.Ports {
		port := strconv.Itoa(int(p.Port))
		if i == 0 {
			add(name+"_SERVICE_PORT", port)
		}
		if p.Name != "" {
			add(name+"_SERVICE_PORT_"+envName(p.Name), port)
		}
	}
	for i, p := range s.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		port := strconv.Itoa(int(p.Port))
		url := strings.ToLower(string(proto)) + "://" + net.JoinHostPort(ip, port)
		if i == 0 {
			add(name+"_PORT", url)
		}
		prefix := name + "_PORT_" + port + "_" + strings.ToUpper(string(proto))
		add(prefix, url)
		add(prefix+"_PROTO", strings.ToLower(string(proto)))
		add(prefix+"_PORT", port)
		add(prefix+"_ADDR", ip)
	}
	return out
}
