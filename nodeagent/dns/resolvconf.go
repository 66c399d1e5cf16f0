package dns

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// Limits of a pod's resolv.conf, as Kubernetes' (glibc's) limits.
const (
	// MaxNameservers is how many nameservers a resolver uses.
	MaxNameservers = 3
	// MaxSearches is how many search domains a pod gets.
	MaxSearches = 32
	// MaxSearchChars is the longest search line (domains joined by spaces).
	MaxSearchChars = 2048
)

// defaultOptions are the options of a ClusterFirst pod: a name with fewer
// than 5 dots is tried with the search domains first, so that "web",
// "web.prod" and "web.prod.svc" find Services.
var defaultOptions = []string{"ndots:5"}

// ResolvConf is what bosun reads of a resolv.conf file.
type ResolvConf struct {
	// Nameservers are the addresses of the "nameserver" lines, in order.
	Nameservers []string
	// Searches are the domains of the last "search" line, without trailing
	// dots ("." alone is left out).
	Searches []string
	// Options are the "options" lines' options; a later one with the same
	// name replaces an earlier one.
	Options []string
}

// ParseResolvConf reads a resolv.conf file as glibc does: comments start
// with '#' or ';', the last search line wins, options accumulate.
// Nameservers that are not IP addresses are left out.
func ParseResolvConf(data []byte) ResolvConf {
	var rc ResolvConf
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				if ip, err := netip.ParseAddr(f[1]); err == nil {
					rc.Nameservers = append(rc.Nameservers, ip.String())
				}
			}
		case "search", "domain":
			rc.Searches = nil
			for _, s := range f[1:] {
				if s = strings.TrimSuffix(s, "."); s != "" {
					rc.Searches = append(rc.Searches, s)
				}
			}
		case "options":
			rc.Options = mergeOptions(rc.Options, f[1:])
		}
	}
	return rc
}

// ReadResolvConf reads and parses the file at path.
func ReadResolvConf(path string) (ResolvConf, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ResolvConf{}, fmt.Errorf("dns: read resolver configuration: %w", err)
	}
	return ParseResolvConf(b), nil
}

// Upstreams returns the nameservers as "host:53" addresses for
// Config.Upstreams, leaving out those in skip (the server's own address:
// forwarding to itself would loop).
func (rc ResolvConf) Upstreams(skip ...string) []string {
	var out []string
	for _, ns := range rc.Nameservers {
		addr := net.JoinHostPort(ns, "53")
		skipped := false
		for _, s := range skip {
			skipped = skipped || s == addr || s == ns
		}
		if !skipped {
			out = append(out, addr)
		}
	}
	return out
}

// PodConfigurer computes pods' resolv.conf as kubelet does from its
// --cluster-dns, --cluster-domain and --resolv-conf flags. It is safe for
// concurrent use.
type PodConfigurer struct {
	// ClusterDomain is the cluster domain ("cluster.local"); "" gives
	// ClusterFirst pods no cluster search domains.
	ClusterDomain string
	// ClusterDNS are the addresses of the cluster's DNS server for this
	// node's pods (the agent's DNS server). None: ClusterFirst pods fall
	// back to Default, as in kubelet.
	ClusterDNS []string
	// HostResolvConf is the host's resolv.conf ("/etc/resolv.conf"), read
	// for every pod: its nameservers serve Default pods and its search
	// domains follow the cluster's for ClusterFirst pods. "" means no host
	// configuration: Default pods get nameserver 127.0.0.1 and search ".".
	HostResolvConf string
	// Logger receives warnings (a fallback, limits exceeded); nil discards.
	Logger *slog.Logger
}

// PodDNS returns the resolv.conf of pod, from its dnsPolicy (unset counts
// as ClusterFirst, the API's default) and dnsConfig:
//   - ClusterFirst (not hostNetwork) and ClusterFirstWithHostNet: the
//     cluster DNS, search <ns>.svc.<domain> svc.<domain> <domain> then the
//     host's, options ndots:5;
//   - Default, and ClusterFirst on hostNetwork: the host's resolv.conf;
//   - None: only what dnsConfig says.
//
// dnsConfig's nameservers and searches are appended (duplicates left
// out), its options merged by name. The result is cut to MaxNameservers,
// MaxSearches and MaxSearchChars with a warning. It fails when the host's
// resolv.conf cannot be read or the policy is unknown.
func (c *PodConfigurer) PodDNS(pod *corev1.Pod) (*runtime.DNSConfig, error) {
	log := c.Logger
	defaults.Logger(&log)
	host := ResolvConf{}
	if c.HostResolvConf != "" {
		var err error
		if host, err = ReadResolvConf(c.HostResolvConf); err != nil {
			return nil, err
		}
	}
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	if (policy == corev1.DNSClusterFirst || policy == corev1.DNSClusterFirstWithHostNet) && len(c.ClusterDNS) == 0 {
		log.Warn("the agent has no cluster DNS address: the pod gets the host's resolv.conf instead (policy Default); start the agent with its DNS server",
			"pod", pod.Namespace+"/"+pod.Name, "dnsPolicy", policy)
		policy = corev1.DNSDefault
	}
	cfg := &runtime.DNSConfig{}
	switch policy {
	case corev1.DNSNone:
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		cfg.Servers = append([]string(nil), c.ClusterDNS...)
		cfg.Searches = host.Searches
		if d := strings.TrimSuffix(c.ClusterDomain, "."); d != "" {
			cfg.Searches = uniq(append([]string{pod.Namespace + ".svc." + d, "svc." + d, d}, host.Searches...))
		}
		cfg.Options = append([]string(nil), defaultOptions...)
	case corev1.DNSDefault:
		cfg.Servers, cfg.Searches, cfg.Options = host.Nameservers, host.Searches, host.Options
		if c.HostResolvConf == "" {
			cfg.Servers, cfg.Searches = []string{"127.0.0.1"}, []string{"."}
		}
	default:
		return nil, fmt.Errorf("dns: pod %s/%s: %w", pod.Namespace, pod.Name, errUnknownPolicy(policy))
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = uniq(append(append([]string(nil), cfg.Servers...), dc.Nameservers...))
		cfg.Searches = uniq(append(append([]string(nil), cfg.Searches...), dc.Searches...))
		opts := make([]string, 0, len(dc.Options))
		for _, o := range dc.Options {
			if o.Value != nil {
				opts = append(opts, o.Name+":"+*o.Value)
			} else {
				opts = append(opts, o.Name)
			}
		}
		cfg.Options = mergeOptions(append([]string(nil), cfg.Options...), opts)
	}
	if len(cfg.Servers) > MaxNameservers {
		log.Warn("a pod's resolv.conf can use only the first 3 nameservers; the others are left out",
			"pod", pod.Namespace+"/"+pod.Name, "nameservers", strings.Join(cfg.Servers, " "))
		cfg.Servers = cfg.Servers[:MaxNameservers]
	}
	if s := fitSearches(cfg.Searches); len(s) != len(cfg.Searches) {
		log.Warn("a pod's search domains exceed the resolver's limits (32 domains, 2048 characters); the last ones are left out",
			"pod", pod.Namespace+"/"+pod.Name, "searches", strings.Join(cfg.Searches, " "))
		cfg.Searches = s
	}
	return cfg, nil
}

func errUnknownPolicy(p corev1.DNSPolicy) error {
	return errors.New("unknown dnsPolicy " + string(p) + " (want ClusterFirst, ClusterFirstWithHostNet, Default or None)")
}

// fitSearches cuts searches to MaxSearches domains and MaxSearchChars.
func fitSearches(searches []string) []string {
	if len(searches) > MaxSearches {
		searches = searches[:MaxSearches]
	}
	for len(searches) > 0 && len(strings.Join(searches, " ")) > MaxSearchChars {
		searches = searches[:len(searches)-1]
	}
	return searches
}

// uniq returns ss without repeated values, first occurrences kept in order.
func uniq(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// mergeOptions returns base with add merged in: an option of add whose
// name ("ndots" of "ndots:2") is in base replaces it in place, others are
// appended.
func mergeOptions(base, add []string) []string {
	name := func(o string) string { n, _, _ := strings.Cut(o, ":"); return n }
	for _, o := range add {
		replaced := false
		for i, b := range base {
			if name(b) == name(o) {
				base[i], replaced = o, true
				break
			}
		}
		if !replaced {
			base = append(base, o)
		}
	}
	return base
}
