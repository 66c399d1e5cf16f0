// Package proctest looks at the processes of the machine through /proc, for
// tests that start real daemons (containerd, its shims) and must prove that
// none is left behind. Where there is no /proc it finds no processes.
//
//	for _, pid := range proctest.Find(func(args []string) bool { return slices.Contains(args, sock) }) {
//		if proctest.Alive(pid) { ... }
//	}
package proctest
