package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bosun-dev/bosun/nodeagent/network"
	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// sandboxRecord is what the runtime keeps of a sandbox, in
// Dir/sandboxes/<id>/sandbox.json.
type sandboxRecord struct {
	ID           string                  `json:"id"`
	Metadata     runtime.SandboxMetadata `json:"metadata"`
	State        runtime.SandboxState    `json:"state"`
	IP           string                  `json:"ip,omitempty"`
	NetNSPath    string                  `json:"netnsPath,omitempty"`
	Hostname     string                  `json:"hostname,omitempty"`
	CreatedAt    time.Time               `json:"createdAt"`
	PortMappings []runtime.PortMapping   `json:"portMappings,omitempty"`
	Labels       map[string]string       `json:"labels,omitempty"`
	Annotations  map[string]string       `json:"annotations,omitempty"`
}

func (s *sandboxRecord) sandbox() runtime.Sandbox {
	return runtime.Sandbox{
		ID:          s.ID,
		Metadata:    s.Metadata,
		State:       s.State,
		IP:          s.IP,
		CreatedAt:   s.CreatedAt,
		Labels:      copyMap(s.Labels),
		Annotations: copyMap(s.Annotations),
	}
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (r *Runtime) sandboxDir(id string) string { return filepath.Join(r.dir, "sandboxes", id) }

// abandonSandbox undoes a sandbox whose start failed with err: it tears its
// network down (with its own deadline, even when ctx has ended) and removes
// dir. It returns err, wrapped.
func (r *Runtime) abandonSandbox(ctx context.Context, id, dir string, md runtime.SandboxMetadata, err error) (runtime.Sandbox, error) {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if terr := r.net.Teardown(tctx, id); terr != nil {
		r.log.Error("tearing down the network of a failed sandbox", "sandbox", id, "err", terr)
	}
	os.RemoveAll(dir)
	return runtime.Sandbox{}, fmt.Errorf("containerd runtime: run sandbox for pod %s/%s: %w", md.Namespace, md.Name, err)
}

// validID reports whether id can name a file of the runtime (ids are made
// by newID, but callers pass them in).
func validID(id string) bool {
	return id != "" && !strings.ContainsAny(id, `/\`) && id != "." && id != ".."
}

// readSandbox reads a sandbox record; ErrNotFound when it does not exist.
func (r *Runtime) readSandbox(id string) (*sandboxRecord, error) {
	if !validID(id) {
		return nil, fmt.Errorf("containerd runtime: sandbox %q: %w", id, runtime.ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(r.sandboxDir(id), "sandbox.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("containerd runtime: sandbox %s: %w", id, runtime.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: sandbox %s: %w", id, err)
	}
	var s sandboxRecord
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("containerd runtime: sandbox %s: record: %w", id, err)
	}
	return &s, nil
}

// writeSandbox writes a record atomically (temporary file, fsync, rename).
func (r *Runtime) writeSandbox(s *sandboxRecord) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("containerd runtime: sandbox %s: record: %w", s.ID, err)
	}
	dir := r.sandboxDir(s.ID)
	if err := writeFileAtomic(filepath.Join(dir, "sandbox.json"), b, 0o600); err != nil {
		return fmt.Errorf("containerd runtime: sandbox %s: %w", s.ID, err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// RunPodSandbox sets up the pod's network namespace (through Config.Network)
// and writes the sandbox's record and its hostname, hosts and resolv.conf
// files, which every container of the sandbox mounts.
func (r *Runtime) RunPodSandbox(ctx context.Context, cfg runtime.SandboxConfig) (runtime.Sandbox, error) {
	id, err := newID()
	if err != nil {
		return runtime.Sandbox{}, err
	}
	dir := r.sandboxDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return runtime.Sandbox{}, fmt.Errorf("containerd runtime: run sandbox: %w", err)
	}
	ports := make([]network.PortMapping, 0, len(cfg.PortMappings))
	for _, p := range cfg.PortMappings {
		ports = append(ports, network.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol, HostIP: p.HostIP})
	}
	att, err := r.net.Setup(ctx, id, cfg.Metadata.Namespace, cfg.Metadata.Name, ports)
	if err != nil {
		// Setup undoes its own work; Teardown again in case that failed half-way.
		return r.abandonSandbox(ctx, id, dir, cfg.Metadata, err)
	}
	rec := &sandboxRecord{
		ID:           id,
		Metadata:     cfg.Metadata,
		State:        runtime.SandboxReady,
		NetNSPath:    att.NetNSPath,
		Hostname:     cfg.Hostname,
		CreatedAt:    r.now(),
		PortMappings: cfg.PortMappings,
		Labels:       copyMap(cfg.Labels),
		Annotations:  copyMap(cfg.Annotations),
	}
	if att.IP != nil {
		rec.IP = att.IP.String()
	}
	if rec.Hostname == "" {
		rec.Hostname = cfg.Metadata.Name
	}
	err = r.writeSandboxFiles(rec, cfg)
	if err == nil {
		err = r.writeSandbox(rec)
	}
	if err != nil {
		return r.abandonSandbox(ctx, id, dir, cfg.Metadata, err)
	}
	r.log.Debug("sandbox ready", "sandbox", id, "pod", cfg.Metadata.Namespace+"/"+cfg.Metadata.Name, "ip", rec.IP)
	return rec.sandbox(), nil
}

// writeSandboxFiles writes /etc/hostname, /etc/hosts and /etc/resolv.conf
// of the sandbox's containers: hosts with the pod's names and
// cfg.HostAliases, resolv.conf from cfg.DNS, or a copy of the host's when
// that is nil.
func (r *Runtime) writeSandboxFiles(s *sandboxRecord, cfg runtime.SandboxConfig) error {
	dir := r.sandboxDir(s.ID)
	hosts := hostsFile(s.IP, s.Hostname, cfg)
	var resolv []byte
	if cfg.DNS != nil {
		resolv = cfg.DNS.ResolvConf()
	} else if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		resolv = b
	}
	for name, data := range map[string][]byte{
		"hostname":    []byte(s.Hostname + "\n"),
		"hosts":       []byte(hosts),
		"resolv.conf": resolv,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// hostsFile is the /etc/hosts of a sandbox with address ip (may be "")
// and hostname, as kubelet writes it.
func hostsFile(ip, hostname string, cfg runtime.SandboxConfig) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if ip != "" {
		b.WriteString(ip)
		if cfg.HostnameFQDN != "" {
			b.WriteString("\t" + cfg.HostnameFQDN)
		}
		b.WriteString("\t" + hostname + "\n")
	}
	if len(cfg.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range cfg.HostAliases {
			b.WriteString(a.IP + "\t" + strings.Join(a.Hostnames, "\t") + "\n")
		}
	}
	return b.String()
}

// StopPodSandbox kills the sandbox's containers, tears its network down and
// marks it NotReady.
func (r *Runtime) StopPodSandbox(ctx context.Context, id string) error {
	rec, err := r.readSandbox(id)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	cs, err := r.ListContainers(ctx, runtime.ContainerFilter{SandboxID: id})
	if err != nil {
		return fmt.Errorf("containerd runtime: stop sandbox %s: %w", id, err)
	}
	for _, c := range cs {
		if c.State == runtime.ContainerRunning || c.State == runtime.ContainerUnknown {
			if err := r.StopContainer(ctx, c.ID, 0); err != nil {
				return fmt.Errorf("containerd runtime: stop sandbox %s: %w", id, err)
			}
		}
	}
	r.sbMu.Lock()
	defer r.sbMu.Unlock()
	if rec, err = r.readSandbox(id); err != nil {
		if errors.Is(err, runtime.ErrNotFound) {
			return nil
		}
		return err
	}
	if rec.State == runtime.SandboxNotReady {
		return nil
	}
	if err := r.net.Teardown(ctx, id); err != nil {
		return fmt.Errorf("containerd runtime: stop sandbox %s: %w", id, err)
	}
	rec.State, rec.IP = runtime.SandboxNotReady, ""
	return r.writeSandbox(rec)
}

// RemovePodSandbox stops the sandbox, removes its containers and its record,
// and the pod's log directory once no sandbox of the pod is left.
func (r *Runtime) RemovePodSandbox(ctx context.Context, id string) error {
	rec, err := r.readSandbox(id)
	if errors.Is(err, runtime.ErrNotFound) {
		// Containers of a sandbox whose record vanished are still removed.
		return r.removeContainersOf(ctx, id)
	}
	if err != nil {
		return err
	}
	if err := r.StopPodSandbox(ctx, id); err != nil {
		return err
	}
	if err := r.removeContainersOf(ctx, id); err != nil {
		return fmt.Errorf("containerd runtime: remove sandbox %s: %w", id, err)
	}
	r.sbMu.Lock()
	defer r.sbMu.Unlock()
	if err := os.RemoveAll(r.sandboxDir(id)); err != nil {
		return fmt.Errorf("containerd runtime: remove sandbox %s: %w", id, err)
	}
	if rec.Metadata.UID != "" && validID(rec.Metadata.UID) {
		others, err := r.listSandboxRecords()
		if err != nil {
			return err
		}
		left := false
		for _, o := range others {
			left = left || o.Metadata.UID == rec.Metadata.UID
		}
		if !left {
			if err := os.RemoveAll(filepath.Join(r.dir, "pods", rec.Metadata.UID)); err != nil {
				return fmt.Errorf("containerd runtime: remove sandbox %s: logs: %w", id, err)
			}
		}
	}
	return nil
}

func (r *Runtime) removeContainersOf(ctx context.Context, sandboxID string) error {
	if !validID(sandboxID) {
		return nil
	}
	cs, err := r.ListContainers(ctx, runtime.ContainerFilter{SandboxID: sandboxID})
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := r.RemoveContainer(ctx, c.ID); err != nil {
			return err
		}
	}
	return nil
}

// listSandboxRecords reads every record, in creation order.
func (r *Runtime) listSandboxRecords() ([]*sandboxRecord, error) {
	entries, err := os.ReadDir(filepath.Join(r.dir, "sandboxes"))
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: list sandboxes: %w", err)
	}
	var out []*sandboxRecord
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		rec, err := r.readSandbox(e.Name())
		if errors.Is(err, runtime.ErrNotFound) {
			continue // being created or removed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// ListPodSandboxes returns the sandboxes matching f, in creation order.
func (r *Runtime) ListPodSandboxes(ctx context.Context, f runtime.SandboxFilter) ([]runtime.Sandbox, error) {
	var recs []*sandboxRecord
	if f.ID != "" {
		rec, err := r.readSandbox(f.ID)
		if errors.Is(err, runtime.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		recs = []*sandboxRecord{rec}
	} else {
		var err error
		if recs, err = r.listSandboxRecords(); err != nil {
			return nil, err
		}
	}
	var out []runtime.Sandbox
	for _, rec := range recs {
		if s := rec.sandbox(); f.Matches(s) {
			out = append(out, s)
		}
	}
	return out, nil
}
