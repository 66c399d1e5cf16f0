package containerd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bosun-dev/bosun/nodeagent/runtime"
)

// cpuPeriod is the CFS period of CPU limits, in microseconds (Kubernetes'
// default, 100 ms).
const cpuPeriod = 100000

// processArgs applies Kubernetes' entrypoint semantics: command replaces the
// image's ENTRYPOINT (and drops its CMD), args replace its CMD.
func processArgs(entrypoint, cmd, command, args []string) []string {
	switch {
	case len(command) > 0:
		return append(append([]string{}, command...), args...)
	case len(args) > 0:
		return append(append([]string{}, entrypoint...), args...)
	default:
		return append(append([]string{}, entrypoint...), cmd...)
	}
}

// cpuQuota is the CFS quota of a limit of millis thousandths of a core
// (at least 1 ms, the kernel's minimum).
func cpuQuota(millis int64) int64 {
	q := millis * cpuPeriod / 1000
	if q < 1000 {
		q = 1000
	}
	return q
}

// specOpts builds the OCI spec of a container of sandbox sb: the image's
// config with the container config's overrides, the sandbox's network
// namespace, hostname and /etc files, mounts and resource limits.
func (r *Runtime) specOpts(ctx context.Context, sb *sandboxRecord, img containerd.Image, cfg runtime.ContainerConfig) ([]oci.SpecOpts, error) {
	ispec, err := img.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", cfg.Image, err)
	}
	args := processArgs(ispec.Config.Entrypoint, ispec.Config.Cmd, cfg.Command, cfg.Args)
	if len(args) == 0 {
		return nil, errors.New("no command: the image has no entrypoint or cmd and the config gives none")
	}
	env := make([]string, 0, len(cfg.Env)+1)
	env = append(env, "HOSTNAME="+sb.Hostname)
	for _, kv := range cfg.Env {
		env = append(env, kv.Key+"="+kv.Value)
	}
	dir := r.sandboxDir(sb.ID)
	mounts := []specs.Mount{
		{Destination: "/etc/hostname", Type: "bind", Source: filepath.Join(dir, "hostname"), Options: []string{"rbind", "rprivate", "ro"}},
		{Destination: "/etc/hosts", Type: "bind", Source: filepath.Join(dir, "hosts"), Options: []string{"rbind", "rprivate", "ro"}},
		{Destination: "/etc/resolv.conf", Type: "bind", Source: filepath.Join(dir, "resolv.conf"), Options: []string{"rbind", "rprivate", "ro"}},
	}
	for _, m := range cfg.Mounts {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		mounts = append(mounts, specs.Mount{Destination: m.ContainerPath, Type: "bind", Source: m.HostPath, Options: []string{"rbind", "rprivate", mode}})
	}
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(args...),
		oci.WithEnv(env),
		oci.WithHostname(sb.Hostname),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNSPath}),
		oci.WithMounts(mounts),
	}
	if cfg.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(cfg.WorkingDir))
	}
	if cfg.Resources.CPUMillis > 0 {
		opts = append(opts, oci.WithCPUCFS(cpuQuota(cfg.Resources.CPUMillis), cpuPeriod))
	}
	if cfg.Resources.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(cfg.Resources.MemoryBytes)))
	}
	sec, err := securityOpts(cfg.Annotations)
	if err != nil {
		return nil, err
	}
	return append(opts, sec...), nil
}

// securityOpts applies the securityContext the agent passes as annotations
// (runAsUser, runAsGroup, readOnlyRootFilesystem).
func securityOpts(ann map[string]string) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	id := func(key string) (uint32, bool, error) {
		v, ok := ann[key]
		if !ok {
			return 0, false, nil
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return 0, false, fmt.Errorf("containerd: annotation %s=%q: not a numeric id: %w", key, v, err)
		}
		return uint32(n), true, nil
	}
	uid, hasUID, err := id(runtime.AnnotationRunAsUser)
	if err != nil {
		return nil, err
	}
	gid, hasGID, err := id(runtime.AnnotationRunAsGroup)
	if err != nil {
		return nil, err
	}
	switch {
	case hasUID && hasGID:
		opts = append(opts, oci.WithUIDGID(uid, gid))
	case hasUID:
		opts = append(opts, oci.WithUserID(uid))
	case hasGID:
		return nil, fmt.Errorf("containerd: runAsGroup without runAsUser is not supported")
	}
	if ann[runtime.AnnotationReadOnlyRootfs] == "true" {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	return opts, nil
}
