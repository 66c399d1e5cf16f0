package network

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	types100 "github.com/containernetworking/cni/pkg/types/100"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// ErrNotFound is returned (wrapped) by Status when the pod has no network
// attachment.
// DefaultBridge is the node's pod bridge unless Config.Bridge names another.
const DefaultBridge = "bosun0"

var ErrNotFound = errors.New("network: not found")

// Names and constants of the generated configuration.
const (
	// NetworkName is the name of the pod network's conflist (bridge,
	// host-local, portmap); host-local keeps its reservations under
	// Config.Dir/ipam/<NetworkName>.
	NetworkName = "bosun"
	// LoopbackName is the name of the loopback conflist.
	LoopbackName = "bosun-loopback"
	// IfName is the pod's interface on the pod network.
	IfName = "eth0"

	cniVersion = "1.0.0"
	// cniTimeout bounds every single CNI call (ADD or DEL of one list).
	cniTimeout = 30 * time.Second
)

// DefaultBinDirs are the directories searched for CNI plugins when
// Config.BinDirs is empty: Debian's package, then the upstream location.
var DefaultBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// requiredPlugins are the plugin binaries the generated conflists use.
var requiredPlugins = []string{"loopback", "bridge", "host-local", "portmap"}

// Config describes the node's pod network.
type Config struct {
	// Dir is required: the pods' network namespace files live in
	// Dir/netns/<id>, libcni's cache in Dir/cni-cache, host-local's IP
	// reservations in Dir/ipam and the generated conflists in Dir/net.d.
	Dir string
	// BinDirs are searched for the CNI plugins; default DefaultBinDirs.
	BinDirs []string
	// Bridge is the name of the node's bridge; default DefaultBridge.
	Bridge string
	// PodCIDR is the node's pod CIDR, e.g. "10.244.1.0/24"; required. The
	// bridge gets the first address (the pods' gateway).
	PodCIDR string
	// MTU of the bridge and the pods' interfaces; default 1500.
	MTU int
	// Logger receives one debug line per setup and teardown; default
	// discards.
	Logger *slog.Logger
}

// PortMapping asks for a host port forwarded to a pod port (a container's
// hostPort).
type PortMapping struct {
	// HostPort is the port on the node; mappings with HostPort 0 are
	// ignored.
	HostPort int32
	// ContainerPort is the port in the pod.
	ContainerPort int32
	// Protocol is "TCP" (default), "UDP" or "SCTP", in any case.
	Protocol string
	// HostIP restricts the mapping to one node address; empty means all.
	HostIP string
}

// Attachment is a pod's place on the network.
type Attachment struct {
	// ID is the pod sandbox id given to Setup.
	ID string
	// NetNSPath is the bind-mounted network namespace file that the pod's
	// containers join (OCI spec network namespace path).
	NetNSPath string
	// IP is the pod's address on eth0.
	IP net.IP
	// Gateway is the pod's default gateway (the bridge's address).
	Gateway net.IP
}

// Network sets up and tears down pods' network namespaces with CNI. It is
// safe for concurrent use; calls for the same id are serialised. Every
// operation acts in the network namespace of the calling OS thread (the
// node's "host" namespace), where the bridge, veths and iptables rules go.
type Network struct {
	dir      string
	nsDir    string
	bridge   string
	podNet   *net.IPNet
	cni      *libcni.CNIConfig
	loopback *libcni.NetworkConfigList
	pod      *libcni.NetworkConfigList // bridge + portmap
	noPorts  *libcni.NetworkConfigList // bridge alone, for pods without host ports
	log      *slog.Logger

	mu    sync.Mutex
	locks map[string]*idLock

	// portmapMu serialises the CNI calls that run the portmap plugin: it
	// creates shared iptables chains (CNI-HOSTPORT-*) without tolerating a
	// concurrent creator ("CHAIN_USER_ADD failed (File exists)").
	portmapMu sync.Mutex
}

type idLock struct {
	mu   sync.Mutex
	refs int
}

// New validates cfg, generates the two conflists (loopback alone; bridge +
// host-local + portmap, cniVersion 1.0.0), writes them to Dir/net.d for
// inspection, and checks that the plugins exist in BinDirs.
func New(cfg Config) (*Network, error) {
	if cfg.Dir == "" {
		return nil, errors.New("network: config: dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("network: config: dir: %w", err)
	}
	if len(cfg.BinDirs) == 0 {
		cfg.BinDirs = DefaultBinDirs
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if len(cfg.Bridge) > 15 || strings.ContainsAny(cfg.Bridge, "/ \t\n") {
		return nil, fmt.Errorf("network: config: bridge %q: not a valid interface name (at most 15 characters, no '/' or spaces)", cfg.Bridge)
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
	}
	if cfg.MTU < 576 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("network: config: mtu %d: must be between 576 and 65535", cfg.MTU)
	}
	if cfg.PodCIDR == "" {
		return nil, errors.New("network: config: pod CIDR is required")
	}
	ip, podNet, err := net.ParseCIDR(cfg.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("network: config: pod CIDR: %w", err)
	}
	if !ip.Equal(podNet.IP) {
		return nil, fmt.Errorf("network: config: pod CIDR %s: host bits are set (did you mean %s?)", cfg.PodCIDR, podNet)
	}
	if ones, bits := podNet.Mask.Size(); bits-ones < 2 {
		return nil, fmt.Errorf("network: config: pod CIDR %s: too small for a gateway and a pod", cfg.PodCIDR)
	}
	for _, p := range requiredPlugins {
		if _, err := invoke.FindInPath(p, cfg.BinDirs); err != nil {
			return nil, fmt.Errorf("network: CNI plugin %q not found in %s (install containernetworking-plugins, e.g. make deps, or set the CNI bin dir): %w",
				p, strings.Join(cfg.BinDirs, ":"), err)
		}
	}
	defaults.Logger(&cfg.Logger)

	loBytes, podBytes, err := conflists(cfg.Bridge, podNet, cfg.MTU, filepath.Join(dir, "ipam"))
	if err != nil {
		return nil, err
	}
	lo, err := libcni.ConfListFromBytes(loBytes)
	if err != nil {
		return nil, fmt.Errorf("network: loopback conflist: %w", err)
	}
	pod, err := libcni.ConfListFromBytes(podBytes)
	if err != nil {
		return nil, fmt.Errorf("network: pod conflist: %w", err)
	}
	// Pods without host ports skip portmap: its ADD and DEL (a dozen
	// iptables runs) are most of the cost of a pod's network otherwise.
	// Teardown uses the cached conflist, so it runs what setup ran.
	var raw map[string]any
	if err := json.Unmarshal(podBytes, &raw); err != nil {
		return nil, fmt.Errorf("network: pod conflist: %w", err)
	}
	raw["plugins"] = raw["plugins"].([]any)[:1]
	noPortsBytes, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("network: pod conflist: %w", err)
	}
	noPorts, err := libcni.ConfListFromBytes(noPortsBytes)
	if err != nil {
		return nil, fmt.Errorf("network: pod conflist: %w", err)
	}

	n := &Network{
		dir:      dir,
		nsDir:    filepath.Join(dir, "netns"),
		bridge:   cfg.Bridge,
		podNet:   podNet,
		cni:      libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, filepath.Join(dir, "cni-cache"), nil),
		loopback: lo,
		pod:      pod,
		noPorts:  noPorts,
		log:      cfg.Logger,
		locks:    map[string]*idLock{},
	}
	for _, d := range []string{n.nsDir, filepath.Join(dir, "net.d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
	}
	for name, b := range map[string][]byte{"10-bosun.conflist": podBytes, "99-loopback.conflist": loBytes} {
		if err := os.WriteFile(filepath.Join(dir, "net.d", name), b, 0o644); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
	}
	return n, nil
}

// conflists returns the loopback and pod network conflists as JSON.
func conflists(bridge string, podNet *net.IPNet, mtu int, ipamDir string) (lo, pod []byte, err error) {
	defaultRoute := "0.0.0.0/0"
	if podNet.IP.To4() == nil {
		defaultRoute = "::/0"
	}
	lo, err = json.MarshalIndent(map[string]any{
		"cniVersion": cniVersion,
		"name":       LoopbackName,
		"plugins":    []any{map[string]any{"type": "loopback"}},
	}, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("network: loopback conflist: %w", err)
	}
	pod, err = json.MarshalIndent(map[string]any{
		"cniVersion": cniVersion,
		"name":       NetworkName,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      bridge,
				"isGateway":   true,
				"ipMasq":      false, // package routes masquerades only traffic leaving the cluster
				"hairpinMode": true,
				"mtu":         mtu,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": ipamDir,
					"ranges":  []any{[]any{map[string]any{"subnet": podNet.String()}}},
					"routes":  []any{map[string]any{"dst": defaultRoute}},
				},
			},
			map[string]any{
				"type":         "portmap",
				"capabilities": map[string]bool{"portMappings": true},
			},
		},
	}, "", "  ")
	if err != nil {
		return nil, nil, fmt.Errorf("network: pod conflist: %w", err)
	}
	return lo, pod, nil
}

// validID matches ids usable as CNI container ids and file names.
var validID = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]{0,127}$`)

func checkID(id string) error {
	if !validID.MatchString(id) {
		return fmt.Errorf("network: pod id %q: must be 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit", id)
	}
	return nil
}

// lock serialises operations on one id and returns the unlock function.
func (n *Network) lock(id string) func() {
	n.mu.Lock()
	l := n.locks[id]
	if l == nil {
		l = &idLock{}
		n.locks[id] = l
	}
	l.refs++
	n.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		n.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(n.locks, id)
		}
		n.mu.Unlock()
	}
}

func (n *Network) nsPath(id string) string { return filepath.Join(n.nsDir, id) }

func (n *Network) podRT(id, netns string, ports []PortMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: IfName}
	if ports != nil {
		var pm []map[string]any
		for _, p := range ports {
			if p.HostPort == 0 {
				continue
			}
			proto := strings.ToLower(p.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			m := map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": proto}
			if p.HostIP != "" {
				m["hostIP"] = p.HostIP
			}
			pm = append(pm, m)
		}
		if len(pm) > 0 {
			rt.CapabilityArgs = map[string]any{"portMappings": pm}
		}
	}
	return rt
}

// checkPorts validates host port mappings (those with HostPort 0 are
// ignored, as Setup ignores them).
func checkPorts(ports []PortMapping) error {
	for _, p := range ports {
		if p.HostPort == 0 {
			continue
		}
		if p.HostPort < 0 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return fmt.Errorf("port mapping %d->%d: ports must be 1-65535", p.HostPort, p.ContainerPort)
		}
		switch strings.ToLower(p.Protocol) {
		case "", "tcp", "udp", "sctp":
		default:
			return fmt.Errorf("port mapping %d->%d: protocol %q: must be TCP, UDP or SCTP", p.HostPort, p.ContainerPort, p.Protocol)
		}
		if p.HostIP != "" && net.ParseIP(p.HostIP) == nil {
			return fmt.Errorf("port mapping %d->%d: host IP %q: not an IP address", p.HostPort, p.ContainerPort, p.HostIP)
		}
	}
	return nil
}

func loRT(id, netns string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: "lo"}
}

// Setup creates the pod's network namespace (a bind-mounted file, as CRI
// does) and runs CNI ADD for loopback and the pod network. namespace and
// name are the pod's, passed to the plugins as K8S_POD_NAMESPACE and
// K8S_POD_NAME. On error everything done so far is undone. Setup is
// idempotent: for an id already set up it returns the existing attachment
// (ports are not changed). Each CNI call has its own 30 s deadline.
func (n *Network) Setup(ctx context.Context, id, namespace, name string, ports []PortMapping) (Attachment, error) {
	if err := checkID(id); err != nil {
		return Attachment{}, err
	}
	if err := checkPorts(ports); err != nil {
		return Attachment{}, fmt.Errorf("network: setup %s (pod %s/%s): %w", id, namespace, name, err)
	}
	defer n.lock(id)()
	start := time.Now()
	path := n.nsPath(id)

	if _, err := os.Lstat(path); err == nil {
		if isNetNS(path) {
			if a, err := n.status(id); err == nil {
				return a, nil
			}
		}
		// A half-done setup (e.g. the agent crashed): start over.
		n.log.InfoContext(ctx, "network: cleaning up a partial pod network before setting it up again", "id", id)
		if err := n.teardown(context.WithoutCancel(ctx), id, ports); err != nil {
			return Attachment{}, fmt.Errorf("network: setup %s: cleaning up a previous attempt: %w", id, err)
		}
	}

	if err := createNetNS(path); err != nil {
		return Attachment{}, fmt.Errorf("network: setup %s: %w", id, err)
	}
	a, err := n.add(ctx, id, namespace, name, path, ports)
	if err != nil {
		if terr := n.teardown(context.WithoutCancel(ctx), id, ports); terr != nil {
			err = errors.Join(err, fmt.Errorf("undoing: %w", terr))
		}
		return Attachment{}, fmt.Errorf("network: setup %s (pod %s/%s): %w", id, namespace, name, err)
	}
	n.log.DebugContext(ctx, "network: pod network set up", "id", id, "pod", namespace+"/"+name, "ip", a.IP, "duration", time.Since(start))
	return a, nil
}

func (n *Network) add(ctx context.Context, id, namespace, name, path string, ports []PortMapping) (Attachment, error) {
	args := [][2]string{
		{"IgnoreUnknown", "1"},
		{"K8S_POD_NAMESPACE", namespace},
		{"K8S_POD_NAME", name},
		{"K8S_POD_INFRA_CONTAINER_ID", id},
	}
	lrt := loRT(id, path)
	lrt.Args = args
	cctx, cancel := context.WithTimeout(ctx, cniTimeout)
	_, err := n.cni.AddNetworkList(cctx, n.loopback, lrt)
	cancel()
	if err != nil {
		return Attachment{}, fmt.Errorf("cni add %s: %w", LoopbackName, err)
	}
	rt := n.podRT(id, path, ports)
	rt.Args = args
	list := n.pod
	if rt.CapabilityArgs == nil {
		list = n.noPorts
	}
	if list == n.pod {
		n.portmapMu.Lock()
	}
	cctx, cancel = context.WithTimeout(ctx, cniTimeout)
	res, err := n.cni.AddNetworkList(cctx, list, rt)
	cancel()
	if list == n.pod {
		n.portmapMu.Unlock()
	}
	if err != nil {
		return Attachment{}, fmt.Errorf("cni add %s: %w", NetworkName, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return Attachment{}, fmt.Errorf("cni add %s: result: %w", NetworkName, err)
	}
	return n.attachment(id, r)
}

// attachment picks the pod's address from a CNI result: the address on
// the pod's eth0 (or the only address) inside the pod CIDR.
func (n *Network) attachment(id string, r *types100.Result) (Attachment, error) {
	for _, ipc := range r.IPs {
		if ipc.Interface != nil && *ipc.Interface < len(r.Interfaces) {
			iface := r.Interfaces[*ipc.Interface]
			if iface.Name != IfName || iface.Sandbox == "" {
				continue
			}
		}
		if n.podNet.Contains(ipc.Address.IP) {
			return Attachment{ID: id, NetNSPath: n.nsPath(id), IP: ipc.Address.IP, Gateway: ipc.Gateway}, nil
		}
	}
	return Attachment{}, fmt.Errorf("cni result for %s has no address in %s: %v", id, n.podNet, r.IPs)
}

// Teardown runs CNI DEL with the configuration cached at ADD time (so that
// portmap removes the very rules it added), releases the IP, then unmounts
// and removes the namespace file. It is idempotent: tearing down an id that
// is not set up (or only half) succeeds and cleans what is left.
func (n *Network) Teardown(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	defer n.lock(id)()
	start := time.Now()
	if err := n.teardown(ctx, id, nil); err != nil {
		return fmt.Errorf("network: teardown %s: %w", id, err)
	}
	n.log.DebugContext(ctx, "network: pod network torn down", "id", id, "duration", time.Since(start))
	return nil
}

// teardown undoes setup; ports are those of a setup that may have failed
// before libcni cached them (portmap then needs them to find its rules).
func (n *Network) teardown(ctx context.Context, id string, ports []PortMapping) error {
	path := n.nsPath(id)
	_, statErr := os.Lstat(path)
	nsExists := statErr == nil
	netns := ""
	if nsExists && isNetNS(path) {
		netns = path
	}
	podCached, _, err := n.cni.GetNetworkListCachedConfig(n.pod, n.podRT(id, netns, nil))
	if err != nil {
		podCached = nil // a corrupt cache entry: DEL with the current config
	}
	loCached, _, err := n.cni.GetNetworkListCachedConfig(n.loopback, loRT(id, netns))
	if err != nil {
		loCached = nil
	}
	if !nsExists && podCached == nil && loCached == nil {
		return nil // nothing left of this pod
	}

	// Pod network first (reverse order of ADD).
	if err := n.del(ctx, n.pod, n.podRT(id, netns, ports)); err != nil {
		return err
	}
	if err := n.del(ctx, n.loopback, loRT(id, netns)); err != nil {
		return err
	}
	if nsExists {
		if err := removeNetNS(path); err != nil {
			return err
		}
	}
	return nil
}

// del runs CNI DEL for list, preferring the conflist and runtime arguments
// cached by ADD (without a cache entry, the full list runs: every plugin's
// DEL tolerates what is already gone).
func (n *Network) del(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	cached, crt, err := n.cni.GetNetworkListCachedConfig(list, rt)
	if err == nil && cached != nil {
		if cl, perr := libcni.ConfListFromBytes(cached); perr == nil {
			list, rt = cl, crt
		}
	}
	if hasPlugin(list, "portmap") {
		n.portmapMu.Lock()
		defer n.portmapMu.Unlock()
	}
	cctx, cancel := context.WithTimeout(ctx, cniTimeout)
	defer cancel()
	if err := n.cni.DelNetworkList(cctx, list, rt); err != nil {
		return fmt.Errorf("cni del %s: %w", list.Name, err)
	}
	return nil
}

func hasPlugin(list *libcni.NetworkConfigList, typ string) bool {
	for _, p := range list.Plugins {
		if p.Network != nil && p.Network.Type == typ {
			return true
		}
	}
	return false
}

// Status returns the attachment of a pod that was set up, from libcni's
// cache; it wraps ErrNotFound when there is none.
func (n *Network) Status(id string) (Attachment, error) {
	if err := checkID(id); err != nil {
		return Attachment{}, err
	}
	a, err := n.status(id)
	if err != nil {
		return Attachment{}, fmt.Errorf("network: status %s: %w", id, err)
	}
	return a, nil
}

func (n *Network) status(id string) (Attachment, error) {
	res, err := n.cni.GetNetworkListCachedResult(n.pod, n.podRT(id, n.nsPath(id), nil))
	if err != nil {
		return Attachment{}, fmt.Errorf("cni cache: %w", err)
	}
	if res == nil {
		return Attachment{}, ErrNotFound
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return Attachment{}, fmt.Errorf("cni cache: %w", err)
	}
	return n.attachment(id, r)
}

// List returns the ids that have a network namespace file, sorted: after a
// crash, the agent tears down those that belong to no pod.
func (n *Network) List() ([]string, error) {
	entries, err := os.ReadDir(n.nsDir)
	if err != nil {
		return nil, fmt.Errorf("network: list: %w", err)
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		if validID.MatchString(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// RemoveNamespaces unmounts every network namespace file mounted at or
// under dir (a data directory; symbolic links in it are resolved) and
// removes the files, whichever pod they belonged to and whether or not
// CNI DEL ran for it: the last step of a node's cleanup, after which dir
// holds no namespace mount and can be removed. It returns the paths it
// removed; the errors of those it could not unmount or remove are joined.
// It runs no CNI plugin: tear pods down first (Teardown) to release their
// addresses and host ports. On other systems than Linux it does nothing.
func RemoveNamespaces(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("network: remove namespaces under %s: %w", dir, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	removed, err := removeNetNSUnder(abs)
	if err != nil {
		return removed, fmt.Errorf("network: remove namespaces under %s: %w", dir, err)
	}
	return removed, nil
}
