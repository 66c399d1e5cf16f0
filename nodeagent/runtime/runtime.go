package runtime

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Sentinel errors of a Runtime; test them with errors.Is.
var (
	// ErrNotFound: no sandbox, container or image with that id or name.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a container with the same name and attempt already
	// exists in the sandbox.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidState: the object's state forbids the operation.
	ErrInvalidState = errors.New("invalid state")
	// ErrImagePull: the image could not be pulled (the wrapping error says why).
	ErrImagePull = errors.New("image pull failed")
)

// Label keys a Runtime may use to store the metadata of sandboxes and
// containers on its own objects, so that they survive the agent (and the
// runtime's client) restarting.
const (
	LabelPodUID         = "io.bosun.pod.uid"
	LabelPodName        = "io.bosun.pod.name"
	LabelPodNamespace   = "io.bosun.pod.namespace"
	LabelSandboxAttempt = "io.bosun.sandbox.attempt"
	LabelContainerName  = "io.bosun.container.name"
	LabelAttempt        = "io.bosun.container.attempt"
)

// Runtime is everything the node agent asks of a container runtime.
// Implementations are safe for concurrent use.
type Runtime interface {
	// Version names the runtime and its version, e.g. "containerd", "1.6.20".
	Version(ctx context.Context) (VersionInfo, error)
	SandboxManager
	ContainerManager
	ImageManager
}

// SandboxManager runs pod sandboxes: a network namespace with an IP.
type SandboxManager interface {
	// RunPodSandbox creates and starts a sandbox (network namespace, IP) and
	// returns it in state SandboxReady. It blocks until the network is set up.
	RunPodSandbox(ctx context.Context, cfg SandboxConfig) (Sandbox, error)
	// StopPodSandbox kills every container of the sandbox (no grace period:
	// stop them first with StopContainer for one), releases its network and
	// marks it SandboxNotReady. Idempotent: an unknown id is not an error.
	StopPodSandbox(ctx context.Context, id string) error
	// RemovePodSandbox stops the sandbox if needed, removes its containers and
	// forgets it. Idempotent: an unknown id is not an error.
	RemovePodSandbox(ctx context.Context, id string) error
	// ListPodSandboxes returns the sandboxes matching f, in creation order.
	ListPodSandboxes(ctx context.Context, f SandboxFilter) ([]Sandbox, error)
}

// ContainerManager creates and runs containers inside sandboxes.
type ContainerManager interface {
	// CreateContainer creates a container in sandbox sandboxID, in state
	// ContainerCreated, and returns its id. The image must be present (see
	// ImageManager); ErrNotFound for an unknown sandbox or absent image,
	// ErrInvalidState for a sandbox that is not ready, ErrAlreadyExists for a
	// name and attempt already used in the sandbox.
	CreateContainer(ctx context.Context, sandboxID string, cfg ContainerConfig) (string, error)
	// StartContainer starts a created container and returns once it runs.
	// ErrNotFound for an unknown id, ErrInvalidState when it is not in state
	// ContainerCreated.
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the container SIGTERM, waits up to timeout for it to
	// exit, then kills it; it returns once the container is ContainerExited.
	// Idempotent: an unknown or exited container is not an error.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// RemoveContainer removes a container, killing it if it still runs.
	// Idempotent: an unknown id is not an error.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers returns the containers matching f, in creation order.
	ListContainers(ctx context.Context, f ContainerFilter) ([]Container, error)
	// ListContainerStats returns the resource usage of the running
	// containers matching f, in no particular order: created and exited
	// containers have none (and an unknown id matches nothing, without an
	// error).
	ListContainerStats(ctx context.Context, f ContainerFilter) ([]ContainerStats, error)
}

// ImageManager pulls images and reports which are present.
type ImageManager interface {
	// PullImage makes image present and returns its reference (a digest,
	// reported as a pod's imageID). Errors wrap ErrImagePull.
	PullImage(ctx context.Context, image string) (string, error)
	// ImageStatus returns a present image; ErrNotFound when it is absent.
	ImageStatus(ctx context.Context, image string) (Image, error)
}

// VersionInfo names a runtime.
type VersionInfo struct {
	// RuntimeName is the runtime's name, also the scheme of container IDs in
	// pod status ("containerd" gives "containerd://<id>").
	RuntimeName string
	// RuntimeVersion is the runtime's version ("1.6.20").
	RuntimeVersion string
}

// SandboxMetadata names the pod a sandbox belongs to. Runtimes store it with
// the sandbox and return it from ListPodSandboxes.
type SandboxMetadata struct {
	Name      string
	Namespace string
	UID       string
	// Attempt counts the sandboxes created for the pod before this one.
	Attempt uint32
}

// PortMapping is one hostPort of a pod.
type PortMapping struct {
	// Protocol is "TCP", "UDP" or "SCTP".
	Protocol      string
	ContainerPort int32
	HostPort      int32
	// HostIP is the host address to bind; "" means all.
	HostIP string
}

// SandboxConfig says how to create a sandbox.
type SandboxConfig struct {
	Metadata     SandboxMetadata
	Hostname     string
	PortMappings []PortMapping
	// PodCIDR is the node's pod CIDR ("10.42.3.0/24"), from which the runtime
	// (CNI host-local IPAM, or the fake) allocates the pod IP; "" means the
	// runtime's default.
	PodCIDR     string
	Labels      map[string]string
	Annotations map[string]string
	// DNS is the pod's resolv.conf, computed by the agent from the pod's
	// dnsPolicy and dnsConfig; nil means a copy of the host's.
	DNS *DNSConfig
	// HostnameFQDN, when set, is the pod's fully qualified name
	// (<hostname>.<subdomain>.<namespace>.svc.<cluster domain>), written
	// before Hostname on the pod IP's line of /etc/hosts, as kubelet does.
	HostnameFQDN string
	// HostAliases are extra /etc/hosts lines (the pod's spec.hostAliases).
	HostAliases []HostAlias
}

// HostAlias is one extra /etc/hosts line: an IP and its names.
type HostAlias struct {
	IP        string
	Hostnames []string
}

// DNSConfig is the content of a pod's /etc/resolv.conf, as CRI's
// DNSConfig: one "nameserver" line per server, one "search" line, one
// "options" line.
type DNSConfig struct {
	// Servers are the nameservers' addresses.
	Servers []string
	// Searches are the search domains.
	Searches []string
	// Options are resolver options: "ndots:5", "edns0".
	Options []string
}

// ResolvConf renders c as a resolv.conf file.
func (c *DNSConfig) ResolvConf() []byte {
	var b []byte
	for _, s := range c.Servers {
		b = append(b, "nameserver "+s+"\n"...)
	}
	if len(c.Searches) > 0 {
		b = append(b, "search "+strings.Join(c.Searches, " ")+"\n"...)
	}
	if len(c.Options) > 0 {
		b = append(b, "options "+strings.Join(c.Options, " ")+"\n"...)
	}
	return b
}

// SandboxState is the state of a sandbox.
type SandboxState string

// Sandbox states.
const (
	SandboxReady    SandboxState = "Ready"
	SandboxNotReady SandboxState = "NotReady"
)

// Sandbox is a pod sandbox as a runtime reports it.
type Sandbox struct {
	ID       string
	Metadata SandboxMetadata
	State    SandboxState
	// IP is the pod's IP ("" once stopped).
	IP          string
	CreatedAt   time.Time
	Labels      map[string]string
	Annotations map[string]string
}

// SandboxFilter selects sandboxes; zero fields select everything.
type SandboxFilter struct {
	ID     string
	PodUID string
	State  SandboxState
	// Labels must all be present with these values.
	Labels map[string]string
}

// ContainerMetadata names a container within its pod.
type ContainerMetadata struct {
	// Name is the container's name in the pod spec.
	Name string
	// Attempt counts the earlier containers of that name in the pod: the
	// pod status's restartCount.
	Attempt uint32
}

// KeyValue is an environment variable.
type KeyValue struct {
	Key, Value string
}

// Mount is a host path mounted into a container.
type Mount struct {
	ContainerPath string
	HostPath      string
	ReadOnly      bool
}

// Resources are a container's limits (zero: none).
type Resources struct {
	// CPUMillis is the CPU limit in thousandths of a core.
	CPUMillis int64
	// MemoryBytes is the memory limit.
	MemoryBytes int64
}

// ContainerConfig says how to create a container.
type ContainerConfig struct {
	Metadata ContainerMetadata
	// Image is the image as written in the pod spec.
	Image string
	// Command and Args follow Kubernetes' semantics: Command replaces the
	// image's entrypoint, Args its cmd.
	Command, Args []string
	Env           []KeyValue
	WorkingDir    string
	Mounts        []Mount
	Resources     Resources
	Labels        map[string]string
	Annotations   map[string]string
}

// ContainerState is the state of a container.
type ContainerState string

// Container states.
const (
	ContainerCreated ContainerState = "Created"
	ContainerRunning ContainerState = "Running"
	ContainerExited  ContainerState = "Exited"
	ContainerUnknown ContainerState = "Unknown"
)

// Container is a container as a runtime reports it.
type Container struct {
	ID        string
	SandboxID string
	Metadata  ContainerMetadata
	// PodUID is the UID of the sandbox's pod.
	PodUID string
	// Image is the image as given at creation; ImageRef its resolved
	// reference (digest).
	Image, ImageRef string
	State           ContainerState
	CreatedAt       time.Time
	StartedAt       time.Time // zero until started
	FinishedAt      time.Time // zero until exited
	ExitCode        int32
	// Reason says why an exited container ended: "Completed" (exit 0),
	// "Error" or "OOMKilled"; Message may add detail.
	Reason, Message string
	Labels          map[string]string
	Annotations     map[string]string
}

// ContainerStats is a running container's resource usage at one moment,
// as CRI's ContainerStats: the rate of CPU use is for the caller to
// compute from two samples.
type ContainerStats struct {
	// ID is the container's id.
	ID string
	// Timestamp is when the sample was taken.
	Timestamp time.Time
	// CPUUsageNanos is the CPU time the container used since it started,
	// in nanoseconds (of any core): cumulative, never decreasing.
	CPUUsageNanos uint64
	// MemoryUsageBytes is the memory charged to the container, page cache
	// included.
	MemoryUsageBytes uint64
	// MemoryWorkingSetBytes is MemoryUsageBytes less the inactive file
	// cache (what the kernel could reclaim at once): the figure kubelet
	// reports, limits are compared with and `kubectl top` shows.
	MemoryWorkingSetBytes uint64
}

// TerminalSize is the size of a command's terminal, in characters, as a
// client resizes it (kubectl exec -t sends one on every window change).
type TerminalSize struct {
	Width, Height uint16
}

// ContainerFilter selects containers; zero fields select everything.
type ContainerFilter struct {
	ID        string
	SandboxID string
	PodUID    string
	State     ContainerState
	// Labels must all be present with these values.
	Labels map[string]string
}

// Image is a present image.
type Image struct {
	// ID is the image's reference (digest).
	ID string
	// RepoTags are the names it is known by.
	RepoTags []string
	Size     int64
}

// Annotations of a ContainerConfig that a runtime must apply (or refuse the
// container): the securityContext fields the config has no field for.
const (
	// AnnotationRunAsUser is the uid the container's processes run as.
	AnnotationRunAsUser = "io.bosun.container.run-as-user"
	// AnnotationRunAsGroup is their gid.
	AnnotationRunAsGroup = "io.bosun.container.run-as-group"
	// AnnotationReadOnlyRootfs "true" mounts the container's root
	// filesystem read-only.
	AnnotationReadOnlyRootfs = "io.bosun.container.readonly-rootfs"
)

// MatchLabels reports whether have holds every key of want with its value.
func MatchLabels(want, have map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// Matches reports whether s passes f.
func (f SandboxFilter) Matches(s Sandbox) bool {
	return (f.ID == "" || f.ID == s.ID) && (f.PodUID == "" || f.PodUID == s.Metadata.UID) &&
		(f.State == "" || f.State == s.State) && MatchLabels(f.Labels, s.Labels)
}

// Matches reports whether c passes f.
func (f ContainerFilter) Matches(c Container) bool {
	return (f.ID == "" || f.ID == c.ID) && (f.SandboxID == "" || f.SandboxID == c.SandboxID) &&
		(f.PodUID == "" || f.PodUID == c.PodUID) && (f.State == "" || f.State == c.State) &&
		MatchLabels(f.Labels, c.Labels)
}
