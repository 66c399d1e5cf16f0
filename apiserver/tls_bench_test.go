package apiserver_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/pki"
	"github.com/bosun-dev/bosun/store/storetest"
)

// apiBench is one API server on one store, served at the same time over
// HTTPS (ServeTLS, the cluster PKI of package pki) and plain HTTP (Serve,
// the loopback development listener), both on 127.0.0.1.
type apiBench struct {
	plainURL, tlsURL string
	// tlsConfig is what a real client builds from the admin kubeconfig the
	// PKI wrote (client.RESTConfig, then client-go's rest.TLSConfigFor):
	// the cluster CA and the admin client certificate.
	tlsConfig *tls.Config
}

// benchPods is the number of pods the LIST requests return.
const benchPods = 100

// newAPIBench starts the server and creates benchPods pods in namespace
// "bench" (pod-000 ... pod-099).
func newAPIBench(b *testing.B) *apiBench {
	b.Helper()
	st := storetest.Start(b)
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	e := &apiBench{plainURL: "http://" + plainLn.Addr().String(), tlsURL: "https://" + tlsLn.Addr().String()}
	dir := b.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	certs, err := pki.EnsureServerPKI(pki.ServerConfig{
		Dir: filepath.Join(dir, "pki"), Hostname: "localhost",
		AdminKubeconfig: kubeconfig, KubeconfigServer: e.tlsURL,
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := apiserver.New(apiserver.Config{
		Store:          st,
		GetCertificate: certs.Serving.GetCertificate,
		ClientCAs:      certs.CA.Pool(),
	})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- srv.Serve(ctx, plainLn) }()
	go func() { done <- srv.ServeTLS(ctx, tlsLn) }()
	b.Cleanup(func() {
		stop()
		for range 2 {
			if err := <-done; err != nil {
				b.Errorf("serve: %v", err)
			}
		}
	})

	rc, err := client.RESTConfig(client.KubeconfigOptions{ExplicitPath: kubeconfig})
	if err != nil {
		b.Fatal(err)
	}
	if e.tlsConfig, err = rest.TLSConfigFor(rc); err != nil || e.tlsConfig == nil {
		b.Fatalf("TLS configuration of %s: %v", kubeconfig, err)
	}

	c, err := client.New(e.plainURL)
	if err != nil {
		b.Fatal(err)
	}
	pods, _ := api.Lookup("pods")
	for i := range benchPods {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%03d", i), Namespace: "bench",
				Labels: map[string]string{"app": "bench", "pod-template-hash": "5d8f7c9b6"}},
			Spec: corev1.PodSpec{
				NodeName: fmt.Sprintf("node-%d", i%3),
				Containers: []corev1.Container{{
					Name: "hello", Image: "bosun.local/hello:v1",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}},
			},
		}
		if err := c.Create(ctx, pods, p); err != nil {
			b.Fatalf("create pod %s: %v", p.Name, err)
		}
	}
	return e
}

// apiVariant is one way to reach the API: plain HTTP, or HTTPS with HTTP/2
// (what bosun's client and kubectl negotiate) or HTTP/1.1.
type apiVariant struct {
	name   string
	base   string
	client *http.Client
	proto  string // wanted in every response: "HTTP/1.1" or "HTTP/2.0"
	times  []time.Duration
}

// transport is bosun's client transport (a clone of
// http.DefaultTransport, see client.newTransport) with tc, and keep-alive
// or one new connection per request. h1 turns HTTP/2 off.
func transport(tc *tls.Config, keepAlive, h1 bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Each its own copy: enabling HTTP/2 adds "h2" to the config's
	// NextProtos, which an HTTP/1.1 transport must not offer.
	if tc != nil {
		t.TLSClientConfig = tc.Clone()
	}
	t.DisableKeepAlives = !keepAlive
	if h1 {
		t.ForceAttemptHTTP2 = false
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return t
}

// request GETs base+path with v's client, reads the whole body and
// returns the time taken; it fails b unless the answer is 200 over
// v.proto and the connection was reused exactly when reuse is true.
func (v *apiVariant) request(b *testing.B, path string, reuse bool) time.Duration {
	var reused bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	resp, err := v.client.Do(req)
	if err != nil {
		b.Fatalf("%s: GET %s: %v", v.name, path, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: GET %s: %s, %v", v.name, path, resp.Status, err)
	}
	if resp.Proto != v.proto {
		b.Fatalf("%s: GET %s answered over %s, want %s", v.name, path, resp.Proto, v.proto)
	}
	if reused != reuse {
		b.Fatalf("%s: GET %s: connection reused %v, want %v", v.name, path, reused, reuse)
	}
	return d
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// BenchmarkAPIOverTLS compares API request latency over HTTPS with client
// certificates (issue 11) against plain HTTP, on one server and one store
// in the same run: GET of one pod and LIST of 100 pods, each with
// keep-alive (as clients run: one connection for many requests) and with
// a new connection per request (TCP plus, for HTTPS, a full TLS 1.3
// handshake with an ECDSA P-256 client certificate; clients keep no
// session cache, so nothing is resumed). Each iteration makes one request
// of every variant, in rotating order, so that a loaded machine slows all
// of them alike; ns/op is their sum. Reported per variant: the median
// request time in microseconds (plain-us; tls-us over HTTP/2, which bosun's
// client and kubectl negotiate; tls-h1-us over HTTP/1.1, the same protocol
// as plain), and the ratios tls/plain and tls-h1/plain of the medians
// (issue 11's target: <= 1.2 with keep-alive).
func BenchmarkAPIOverTLS(b *testing.B) {
	e := newAPIBench(b)
	for _, req := range []struct{ name, path string }{
		{"get", "/api/v1/namespaces/bench/pods/pod-042"},
		{"list100", "/api/v1/namespaces/bench/pods"},
	} {
		for _, keepAlive := range []bool{true, false} {
			mode := "keepalive"
			if !keepAlive {
				mode = "newconn"
			}
			b.Run(req.name+"/"+mode, func(b *testing.B) {
				vs := []*apiVariant{
					{name: "plain", base: e.plainURL, proto: "HTTP/1.1",
						client: &http.Client{Transport: transport(nil, keepAlive, false)}},
					{name: "tls", base: e.tlsURL, proto: "HTTP/2.0",
						client: &http.Client{Transport: transport(e.tlsConfig, keepAlive, false)}},
					{name: "tls-h1", base: e.tlsURL, proto: "HTTP/1.1",
						client: &http.Client{Transport: transport(e.tlsConfig, keepAlive, true)}},
				}
				for _, v := range vs {
					defer v.client.CloseIdleConnections()
					// Open the kept-alive connections before timing.
					v.request(b, req.path, false)
				}
				i := 0
				for b.Loop() {
					for j := range vs {
						v := vs[(i+j)%len(vs)]
						v.times = append(v.times, v.request(b, req.path, keepAlive))
					}
					i++
				}
				plain, tlsH2, tlsH1 := median(vs[0].times), median(vs[1].times), median(vs[2].times)
				b.ReportMetric(us(plain), "plain-us")
				b.ReportMetric(us(tlsH2), "tls-us")
				b.ReportMetric(us(tlsH1), "tls-h1-us")
				b.ReportMetric(float64(tlsH2)/float64(plain), "tls/plain")
				b.ReportMetric(float64(tlsH1)/float64(plain), "tls-h1/plain")
			})
		}
	}
}
