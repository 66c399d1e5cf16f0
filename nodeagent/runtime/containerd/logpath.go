package containerd

// LogPath returns where the runtime writes the log of attempt of the
// container named name in the pod with UID podUID: LogPath(Config.Dir,
// podUID, name, attempt). Once rotated, the older part of that log is the
// same path plus ".1". The agent's API (package nodeagent/agentapi) reads
// container logs through it.
func (r *Runtime) LogPath(podUID, name string, attempt uint32) string {
	return LogPath(r.dir, podUID, name, attempt)
}
