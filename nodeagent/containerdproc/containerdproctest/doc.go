// Package containerdproctest starts a supervised containerd for tests, in a
// temporary directory, and removes everything it left behind.
//
//	func TestSomething(t *testing.T) {
//		c := containerdproctest.Start(t) // skips (or fails in CI) without root or containerd
//		img, err := images.Ensure(ctx, c, "bosun.local/hello:v1", corev1.PullNever)
//		...
//	}
//
// At the end of the test it kills and deletes every task and container of
// that containerd (in every namespace), stops containerd, kills shims still
// serving it and the processes in its containers' cgroups, unmounts what is
// mounted under its directory, and removes what containerd 1.6 keeps outside
// it for those containers: /run/containerd/runc/<ns>/<id>, the shim sockets
// in /run/containerd/s and the cgroups /sys/fs/cgroup/<controller>/<ns>/<id>
// (with /<ns> itself when it is then empty). Other containerd instances,
// such as the machine's own or another test's, are not touched.
package containerdproctest
