// Package testutil holds the waits and checks bosun's tests share: Eventually
// polls a condition until it holds or a deadline passes, then fails the test
// with the condition's last reason (EventuallyTrue and EventuallyNoDiff do
// the same for a bool and for a description of what is still wrong).
// ReadLine waits, with a deadline, for the next line of a stream (a
// followed log), Receive for a value from a channel, and Start runs a
// component's Run(ctx) until the test ends and checks that it stops. Golden
// compares output with a file under testdata/ that -update rewrites.
//
// Tests wait this way for real I/O (etcd, HTTP, fsnotify, git) with a
// generous deadline, so that a loaded machine makes them slower, not red.
// Timing logic (backoffs, debounces, leases, timeouts) is tested in virtual
// time with testing/synctest or a fake clock instead; Eventually works inside
// a synctest bubble too, where its sleeps take no real time.
//
//	testutil.Eventually(t, 10*time.Second, "the pod to be bound", func() (bool, string) {
//		p, err := st.Get(ctx, pods, "default", "web")
//		if err != nil {
//			return false, err.Error()
//		}
//		return p.Spec.NodeName != "", "spec.nodeName is empty"
//	})
package testutil
