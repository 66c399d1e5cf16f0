package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/bosun-dev/bosun/internal/defaults"
	"github.com/bosun-dev/bosun/nodeagent/network"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// RuntimeName is the name Version reports, also the scheme of container IDs
// in pod status ("containerd://<id>").
const RuntimeName = "containerd"

// DefaultNamespace is the containerd namespace of bosun's containers when
// Config.Namespace is empty.
const DefaultNamespace = "bosun"

// DefaultSnapshotter is the snapshotter of containers' root filesystems.
const DefaultSnapshotter = "overlayfs"

// DefaultMaxLogBytes is the size at which a container's log file is rotated
// when Config.MaxLogBytes is zero.
const DefaultMaxLogBytes = 10 << 20

// Label keys the runtime sets on its containerd containers, besides the
// runtime.Label* keys (pod UID, name, namespace, container name, attempt).
const (
	// LabelSandboxID names the sandbox a container belongs to; every
	// container of this runtime has it.
	LabelSandboxID = "io.bosun.sandbox.id"
	// LabelImage is the image as written in the container config.
	LabelImage = "io.bosun.image"
	// LabelImageRef is the image's resolved reference (digest).
	LabelImageRef = "io.bosun.image.ref"
	// LabelStartedAt is when the container's task started (RFC 3339, ns).
	LabelStartedAt = "io.bosun.started-at"
	// LabelFinishedAt, LabelExitCode and LabelReason record an exit once the
	// runtime has seen it, so it survives the task being deleted.
	LabelFinishedAt = "io.bosun.finished-at"
	LabelExitCode   = "io.bosun.exit-code"
	LabelReason     = "io.bosun.reason"
	// LabelMessage adds detail to LabelReason.
	LabelMessage = "io.bosun.message"
	// LabelLogPath is the container's log file.
	LabelLogPath = "io.bosun.log-path"

	// userLabelPrefix and annotationPrefix carry the config's Labels and
	// Annotations, so they never collide with the runtime's own keys.
	userLabelPrefix  = "io.bosun.label/"
	annotationPrefix = "io.bosun.annotation/"
)

// Network is what the runtime needs of the pod network: a network
// namespace with an IP per sandbox. *network.Network implements it.
type Network interface {
	// Setup creates the sandbox's network namespace and attaches it; it is
	// idempotent for the same id.
	Setup(ctx context.Context, id, namespace, name string, ports []network.PortMapping) (network.Attachment, error)
	// Teardown detaches and removes the namespace; idempotent.
	Teardown(ctx context.Context, id string) error
}

// Config configures a Runtime.
type Config struct {
	// Client is the containerd client (required).
	Client *containerd.Client
	// Namespace is the containerd namespace of every container; default
	// DefaultNamespace.
	Namespace string
	// Network gives sandboxes their network namespace and IP (required;
	// *network.Network in production). SandboxConfig.PodCIDR is ignored:
	// the network has the node's pod CIDR.
	Network Network
	// Dir is the runtime's directory (required): sandbox records in
	// Dir/sandboxes/<id>/, logs in Dir/pods/<pod uid>/<container>/<attempt>.log,
	// the task FIFOs in Dir/fifo.
	Dir string
	// Snapshotter of the containers' root filesystems; default
	// DefaultSnapshotter.
	Snapshotter string
	// MaxLogBytes is the size at which a log file is rotated (one old file,
	// <attempt>.log.1, is kept); default DefaultMaxLogBytes.
	MaxLogBytes int64
	// Logger receives the runtime's log; default discards.
	Logger *slog.Logger
	// Now is the clock of log timestamps and sandbox creation times;
	// default time.Now.
	Now func() time.Time
}

// Runtime is a runtime.Runtime on containerd: a sandbox is a network
// namespace from Config.Network plus a record under Config.Dir, a container
// a containerd container and task joining that namespace. It is safe for
// concurrent use.
type Runtime struct {
	client      *containerd.Client
	ns          string
	net         Network
	dir         string
	snapshotter string
	maxLog      int64
	log         *slog.Logger
	now         func() time.Time

	// sbMu serialises changes to sandbox records and the container names
	// within a sandbox.
	sbMu sync.Mutex

	sbLocksMu sync.Mutex
	sbLocks   map[string]*sandboxLock

	ioMu   sync.Mutex
	ios    map[string]*taskIO // container id -> log copying of its task
	closed bool
}

var _ runtime.Runtime = (*Runtime)(nil)

// New returns a Runtime and adopts what an earlier Runtime on the same
// containerd namespace and Dir left running: it re-attaches the log files
// of every existing task. Close releases the log copying.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Client == nil {
		return nil, errors.New("containerd runtime: no containerd client")
	}
	if cfg.Network == nil {
		return nil, errors.New("containerd runtime: no network")
	}
	if cfg.Dir == "" {
		return nil, errors.New("containerd runtime: no directory")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = DefaultSnapshotter
	}
	defaults.Positive(&cfg.MaxLogBytes, DefaultMaxLogBytes)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: directory: %w", err)
	}
	for _, d := range []string{"sandboxes", "pods", "fifo"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("containerd runtime: %w", err)
		}
	}
	r := &Runtime{
		client:      cfg.Client,
		ns:          cfg.Namespace,
		net:         cfg.Network,
		dir:         dir,
		snapshotter: cfg.Snapshotter,
		maxLog:      cfg.MaxLogBytes,
		log:         cfg.Logger,
		now:         cfg.Now,
		ios:         map[string]*taskIO{},
		sbLocks:     map[string]*sandboxLock{},
	}
	if err := r.adopt(ctx); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Close stops copying the output of running containers to their log files
// (the containers keep running; their output waits in the pipes for the
// next Runtime). The Runtime must not be used afterwards.
func (r *Runtime) Close() {
	r.ioMu.Lock()
	ios := r.ios
	r.ios, r.closed = map[string]*taskIO{}, true
	r.ioMu.Unlock()
	for _, tio := range ios {
		tio.detach()
	}
}

// withNS puts the runtime's containerd namespace into ctx.
func (r *Runtime) withNS(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.ns)
}

// Version reports "containerd" and the daemon's version.
func (r *Runtime) Version(ctx context.Context) (runtime.VersionInfo, error) {
	v, err := r.client.Version(r.withNS(ctx))
	if err != nil {
		return runtime.VersionInfo{}, fmt.Errorf("containerd runtime: version: %w", err)
	}
	return runtime.VersionInfo{RuntimeName: RuntimeName, RuntimeVersion: v.Version}, nil
}

// LogPath is where the runtime with directory dir writes the log of attempt
// of the container named name in the pod with UID podUID.
func LogPath(dir, podUID, name string, attempt uint32) string {
	return filepath.Join(dir, "pods", podUID, name, strconv.FormatUint(uint64(attempt), 10)+".log")
}

// newID returns a random 32-hex-digit id.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("containerd runtime: random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// trackIO remembers the log copying of a container's task (replacing, and
// detaching, an older one).
func (r *Runtime) trackIO(id string, tio *taskIO) {
	r.ioMu.Lock()
	defer r.ioMu.Unlock()
	if r.closed {
		go tio.detach()
		return
	}
	if old := r.ios[id]; old != nil && old != tio {
		go old.detach()
	}
	r.ios[id] = tio
}

func (r *Runtime) untrackIO(id string) *taskIO {
	r.ioMu.Lock()
	defer r.ioMu.Unlock()
	tio := r.ios[id]
	delete(r.ios, id)
	return tio
}

func (r *Runtime) hasIO(id string) bool {
	r.ioMu.Lock()
	defer r.ioMu.Unlock()
	return r.ios[id] != nil
}

// ioAttach returns a cio.Attach that copies an existing task's FIFOs to
// logPath.
func (r *Runtime) ioAttach(id, logPath string) cio.Attach {
	return func(fifos *cio.FIFOSet) (cio.IO, error) {
		tio, err := r.newTaskIO(logPath, fifos)
		if err != nil {
			return nil, err
		}
		r.trackIO(id, tio)
		return tio, nil
	}
}

// ioCreator returns a cio.Creator that makes FIFOs under Dir/fifo and
// copies them to logPath.
func (r *Runtime) ioCreator(id, logPath string) cio.Creator {
	return func(string) (cio.IO, error) {
		fifos, err := cio.NewFIFOSetInDir(filepath.Join(r.dir, "fifo"), id, false)
		if err != nil {
			return nil, err
		}
		fifos.Stdin = ""
		tio, err := r.newTaskIO(logPath, fifos)
		if err != nil {
			_ = fifos.Close()
			return nil, err
		}
		r.trackIO(id, tio)
		return tio, nil
	}
}
