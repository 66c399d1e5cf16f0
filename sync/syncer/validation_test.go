package syncer_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/records"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
	"github.com/bosun-dev/bosun/sync/state"
	"github.com/bosun-dev/bosun/sync/syncer"
)

// service renders a Service manifest; extra is added under spec.
func service(ns, name, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: %s
spec:
  selector: {app: a}
%s  ports:
  - port: 80
`, name, ns, extra)
}

func configMap(ns, name string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  namespace: %s\ndata:\n  k: v\n", name, ns)
}

// liveService stores a Service that sync did not write (created through
// the API, or by another tool).
func liveService(t *testing.T, s *store.Store, ns, name, clusterIP string, nodePort int32) {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: clusterIP, ClusterIPs: []string{clusterIP}, Type: corev1.ServiceTypeNodePort,
			Ports: []corev1.ServicePort{{Port: 53, NodePort: nodePort, Protocol: corev1.ProtocolTCP}}}}
	if err := s.Create(t.Context(), svc); err != nil {
		t.Fatal(err)
	}
}

// TestSyncRejectsConflictsAndMissingNamespaces applies a good commit, then
// one with a problem that needs the cluster or the whole set to see, and
// checks the second is rejected whole with file:line while the first keeps
// running.
func TestSyncRejectsConflictsAndMissingNamespaces(t *testing.T) {
	tests := []struct {
		name  string
		live  func(t *testing.T, s *store.Store)
		files map[string]string
		want  string // in the rejection's problems
	}{
		{"duplicate clusterIP in the commit", nil, map[string]string{
			"deploy/s1.yaml": service("default", "s1", "  clusterIP: 10.96.0.50\n"),
			"deploy/s2.yaml": service("default", "s2", "  clusterIP: 10.96.0.50\n"),
		}, "deploy/s2.yaml:8: Service default/s2: spec.clusterIP: clusterIP 10.96.0.50 is already used by Service default/s1 at deploy/s1.yaml:1"},
		{"clusterIP outside the service CIDR", nil, map[string]string{
			"deploy/s1.yaml": service("default", "s1", "  clusterIP: 8.8.8.8\n"),
		}, "deploy/s1.yaml:8: Service default/s1: spec.clusterIP: clusterIP 8.8.8.8 is outside the service CIDR 10.96.0.0/16"},
		{"object in a namespace that exists nowhere", nil, map[string]string{
			"deploy/cm.yaml": configMap("shop", "settings"),
		}, `deploy/cm.yaml:5: ConfigMap shop/settings: metadata.namespace: namespace "shop" does not exist in the cluster and the commit defines no Namespace "shop"`},
		{"clusterIP of a live Service", func(t *testing.T, s *store.Store) { liveService(t, s, "kube-system", "kube-dns", "10.96.0.10", 30053) },
			map[string]string{"deploy/s1.yaml": service("default", "s1", "  clusterIP: 10.96.0.10\n")},
			"deploy/s1.yaml:8: Service default/s1: spec.clusterIP: clusterIP 10.96.0.10 is already allocated to Service kube-system/kube-dns"},
		{"nodePort of a live Service", func(t *testing.T, s *store.Store) { liveService(t, s, "kube-system", "kube-dns", "10.96.0.10", 30053) },
			map[string]string{"deploy/s1.yaml": strings.Replace(service("default", "s1", "  type: NodePort\n"), "port: 80", "port: 80\n    nodePort: 30053", 1)},
			"deploy/s1.yaml:11: Service default/s1: spec.ports[0].nodePort: nodePort 30053/TCP is already allocated to Service kube-system/kube-dns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storetest.Start(t)
			if tt.live != nil {
				tt.live(t, s)
			}
			g := newGitRepo(t)
			sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Path: "deploy",
				ServiceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")}})
			c1 := g.commit("good", map[string]string{"deploy/a.yaml": deployment("a", 1)})
			mustSync(t, sy, c1, state.ResultApplied)

			c2 := g.commit("bad", tt.files)
			att := mustSync(t, sy, c2, state.ResultRejected)
			if got := att.Problems.Errors().String(); !strings.Contains(got, tt.want) {
				t.Errorf("rejection problems:\n%s\nwant one containing %q", got, tt.want)
			}
			st, err := records.ReadStatus(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			if st.Synced == nil || st.Synced.Commit.SHA != c1 {
				t.Errorf("synced commit after the rejection = %+v, want %.8s", st.Synced, c1)
			}
			if err := s.Get(t.Context(), "default", "s1", &corev1.Service{}); err == nil {
				t.Error("Service s1 of the rejected commit was stored")
			}
		})
	}
}

// TestSyncFreesAllocationsOfPrunedServices checks that a Service renamed in
// Git may keep its clusterIP and nodePort: the old one is pruned by the
// same transaction, so its allocations do not count as live.
func TestSyncFreesAllocationsOfPrunedServices(t *testing.T) {
	s := storetest.Start(t)
	g := newGitRepo(t)
	sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Path: "deploy",
		ServiceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")}})
	extra := "  type: NodePort\n  clusterIP: 10.96.0.20\n"
	svc := func(name string) string {
		return strings.Replace(service("default", name, extra), "port: 80", "port: 80\n    nodePort: 30080", 1)
	}
	c1 := g.commit("old", map[string]string{"deploy/a.yaml": deployment("a", 1), "deploy/svc.yaml": svc("old")})
	mustSync(t, sy, c1, state.ResultApplied)
	c2 := g.commit("renamed", map[string]string{"deploy/svc.yaml": svc("renamed")})
	att := mustSync(t, sy, c2, state.ResultApplied)
	if att.Pruned != 1 || att.Created != 1 {
		t.Errorf("created %d, pruned %d; want 1 and 1", att.Created, att.Pruned)
	}
}

// TestSyncCreateNamespaces checks --create-namespaces: a commit using a
// namespace that exists nowhere is applied with a warning, the namespace
// is created without sync's label, and a later commit that no longer uses
// it does not prune it.
func TestSyncCreateNamespaces(t *testing.T) {
	s := storetest.Start(t)
	g := newGitRepo(t)
	sy := syncer.New(syncer.Config{Source: localSource(t, g.dir), Store: s, Path: "deploy", CreateNamespaces: true})
	c1 := g.commit("shop", map[string]string{"deploy/a.yaml": deployment("a", 1), "deploy/cm.yaml": configMap("shop", "settings")})
	att := mustSync(t, sy, c1, state.ResultApplied)
	if w := att.Problems.Warnings().String(); !strings.Contains(w, `namespace "shop" does not exist in the cluster`) {
		t.Errorf("warnings:\n%s\nwant one about namespace shop", w)
	}
	ns := &corev1.Namespace{}
	if err := s.Get(t.Context(), "", "shop", ns); err != nil {
		t.Fatalf("namespace shop after the sync: %v", err)
	}
	if v, ok := ns.Labels[api.LabelManagedBy]; ok {
		t.Errorf("created namespace carries %s=%s: pruning would delete it", api.LabelManagedBy, v)
	}
	if err := s.Get(t.Context(), "shop", "settings", &corev1.ConfigMap{}); err != nil {
		t.Errorf("configmap shop/settings: %v", err)
	}

	c2 := g.commit("no more shop", map[string]string{"deploy/cm.yaml": ""})
	mustSync(t, sy, c2, state.ResultApplied)
	if err := s.Get(t.Context(), "", "shop", &corev1.Namespace{}); err != nil {
		t.Errorf("namespace shop after its objects left Git: %v; want it kept", err)
	}
}
