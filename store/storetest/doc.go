// Package storetest starts real embedded etcd servers for tests of packages built
// on the store: each in its own t.TempDir(), on free 127.0.0.1 ports, with small
// raft ticks, stopped by t.Cleanup (StartAt gives the store a test clock).
// Resource, Modify and Names are the small store chores such tests share:
// look up a resource, read-change-write an object, list names.
//
//	func TestSomething(t *testing.T) {
//		s := storetest.Start(t)
//		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
//		if err := s.Create(t.Context(), pod); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// etcd's warnings go to t.Log while the test runs, so they show with -v or on
// failure.
package storetest
