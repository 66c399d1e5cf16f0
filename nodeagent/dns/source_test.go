package dns_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/internal/testutil"
	bdns "github.com/bosun-dev/bosun/nodeagent/dns"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestAPISourceServesFromCache runs the server on an APISource over a real
// API server: Services and Endpoints written to the store become answers,
// a deleted Service becomes NXDOMAIN, and queries send no request to the
// API.
func TestAPISourceServesFromCache(t *testing.T) {
	st := storetest.Start(t)
	var requests atomic.Int64
	h := apiserver.New(apiserver.Config{Store: st, Logger: storetest.Logger(t)}).Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src, err := bdns.NewAPISource(c, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := bdns.New(bdns.Config{Addr: "127.0.0.1:0", Lister: src, Logger: storetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Start(t, src.Run)
	testutil.Start(t, srv.Run)
	udp, _ := srv.Addrs(ctx)
	ask := func(name string) string {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		r, _, err := (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(m, udp.String())
		if err != nil {
			return "error: " + err.Error()
		}
		var ips []string
		for _, rr := range r.Answer {
			ips = append(ips, rr.(*dns.A).A.String())
		}
		return dns.RcodeToString[r.Rcode] + " " + strings.Join(ips, ",")
	}
	testutil.EventuallyTrue(t, 10*time.Second, "the cache to sync", src.Synced)

	hello := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "hello"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.42", Ports: []corev1.ServicePort{{Port: 80}}}}
	db := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "db"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}}
	dbEp := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "db"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.244.1.7"}}}}}
	for _, o := range []api.Object{hello, db, dbEp} {
		if err := st.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]string{
		"hello.demo.svc.cluster.local.": "NOERROR 10.96.0.42",
		"db.demo.svc.cluster.local.":    "NOERROR 10.244.1.7",
	} {
		testutil.EventuallyNoDiff(t, 10*time.Second, name, func() string {
			if got := ask(name); got != want {
				return "got " + got + ", want " + want
			}
			return ""
		})
	}
	for ip, want := range map[string]string{"10.96.0.42": "hello.demo.svc.cluster.local.", "10.244.1.7": "10-244-1-7.db.demo.svc.cluster.local."} {
		name, _ := dns.ReverseAddr(ip)
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypePTR)
		r, _, err := (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(m, udp.String())
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Answer) != 1 || r.Answer[0].(*dns.PTR).Ptr != want {
			t.Errorf("PTR of %s: %v, want %s", ip, r.Answer, want)
		}
	}
	before := requests.Load()
	for range 50 {
		if got := ask("hello.demo.svc.cluster.local."); got != "NOERROR 10.96.0.42" {
			t.Fatalf("answer %s", got)
		}
	}
	if n := requests.Load() - before; n != 0 {
		t.Errorf("50 queries sent %d requests to the API; answers must come from the cache", n)
	}
	svcs, _ := api.Lookup("services")
	if err := st.Delete(ctx, svcs, "demo", "hello", ""); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyNoDiff(t, 10*time.Second, "NXDOMAIN after the delete", func() string {
		if got := ask("hello.demo.svc.cluster.local."); got != "NXDOMAIN " {
			return "got " + got
		}
		return ""
	})
}
