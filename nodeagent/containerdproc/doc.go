// Package containerdproc runs and reaches the containerd daemon that holds
// bosun's containers.
//
// Without --containerd-socket, bosun starts containerd itself, as k3s does:
// Start generates a config.toml for containerd 1.6+ (config version 2) with
// root, state, socket and plugin paths all under Config.Dir, the CRI plugin
// disabled (bosun is its own CRI) and the overlayfs snapshotter, starts
// containerd as a child process (in its own process group, killed if bosun
// dies), waits until it answers, and restarts it with a backoff (1 s doubling
// to 30 s, reset after 30 s of running) whenever it exits, until the context
// ends; then it sends SIGTERM, and SIGKILL after a grace period. The child's
// output goes to the logger line by line: at debug level, errors at error
// level. Running tasks survive a restart of containerd (their shims are not
// its children), so a restarted daemon finds them again.
//
// Every bosun container lives in the containerd namespace Namespace; Connect
// returns a client whose default namespace it is.
//
//	sup, err := containerdproc.Start(ctx, containerdproc.Config{Dir: "/var/lib/bosun/containerd", Logger: logger})
//	if err != nil { ... }
//	c, err := containerdproc.Connect(ctx, sup.Address())
//	if err != nil { ... }
//	defer c.Close()
//	...
//	cancel()   // stops containerd
//	sup.Wait()
//
// Tests use containerdproctest.Start, which runs a supervised containerd in a
// temporary directory and removes everything it left behind.
//
// containerd 1.6 keeps a few things outside its root and state whatever the
// configuration: shim sockets in /run/containerd/s, runc state in
// /run/containerd/runc/<namespace> (unless the container's runtime options
// name another root) and cgroups /sys/fs/cgroup/<controller>/<namespace>/<id>.
package containerdproc
