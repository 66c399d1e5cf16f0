package proxy

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/metrics/metricstest"
)

// renderNFT returns every chain rule and map element of s, one a line.
func renderNFT(s *nftState) string {
	var lines []string
	for c, rules := range s.chains {
		for _, r := range rules {
			lines = append(lines, c+": "+r.rule+" # "+r.comment)
		}
	}
	for m, elems := range s.maps {
		for k, e := range elems {
			lines = append(lines, m+": "+k+" : "+e.value+" # "+e.comment)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// outsideFixture is a Service inside 10.96.0.0/16 and one at 8.8.8.8, both
// with a node port and a ready endpoint, plus a headless Service.
func outsideFixture() ([]*corev1.Service, []*corev1.Endpoints) {
	svcs := []*corev1.Service{
		nodePort(svc("default", "inside", "10.96.0.10", port("", 80, corev1.ProtocolTCP)), 30080),
		nodePort(svc("default", "outside", "8.8.8.8", port("", 53, corev1.ProtocolUDP)), 30053),
		svc("default", "headless", corev1.ClusterIPNone, port("", 80, corev1.ProtocolTCP)),
	}
	eps := []*corev1.Endpoints{
		eps("default", "inside", []string{"10.244.0.11"}, nil, epPort("", 8080, corev1.ProtocolTCP)),
		eps("default", "outside", []string{"10.244.0.12"}, nil, epPort("", 5353, corev1.ProtocolUDP)),
	}
	return svcs, eps
}

func TestServiceOutsideServiceCIDRGetsNoRules(t *testing.T) {
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.96.0.0/16")}
	type builder func(t *testing.T, s []*corev1.Service, e []*corev1.Endpoints, o buildOptions) string
	build := map[string]builder{
		"iptables": func(_ *testing.T, s []*corev1.Service, e []*corev1.Endpoints, o buildOptions) string {
			return render(buildRules(s, e, o))
		},
		"nftables": func(_ *testing.T, s []*corev1.Service, e []*corev1.Endpoints, o buildOptions) string {
			return renderNFT(buildNFT(s, e, o))
		},
		"nftables backend": func(t *testing.T, s []*corev1.Service, e []*corev1.Endpoints, o buildOptions) string {
			fake := newRecordingNFT()
			if err := newNFTablesBackend(fake, o).sync(context.Background(), s, e, true); err != nil {
				t.Fatal(err)
			}
			return fake.Dump()
		},
	}
	tests := []struct {
		name       string
		opts       buildOptions
		want, deny []string
	}{
		{name: "service CIDR set", opts: buildOptions{serviceCIDRs: cidrs},
			want: []string{"10.96.0.10", "30080", "10.244.0.11"},
			deny: []string{"8.8.8.8", "30053", "10.244.0.12", "default/outside"}},
		{name: "two service CIDRs", opts: buildOptions{serviceCIDRs: append(cidrs, netip.MustParsePrefix("8.8.8.0/24"))},
			want: []string{"10.96.0.10", "30080", "8.8.8.8", "30053"}},
		{name: "no service CIDR programs every cluster IP", opts: buildOptions{},
			want: []string{"10.96.0.10", "30080", "8.8.8.8", "30053", "10.244.0.12"}},
	}
	for mode, fn := range build {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				svcs, eps := outsideFixture()
				got := fn(t, svcs, eps, tt.opts)
				for _, w := range tt.want {
					if !strings.Contains(got, w) {
						t.Errorf("rules lack %q:\n%s", w, got)
					}
				}
				for _, d := range tt.deny {
					if strings.Contains(got, d) {
						t.Errorf("rules mention %q:\n%s", d, got)
					}
				}
			})
		}
	}
}

func TestProxierReportsServicesOutsideServiceCIDR(t *testing.T) {
	for _, mode := range []Mode{ModeIPTables, ModeNFTables} {
		t.Run(string(mode), func(t *testing.T) {
			var logs bytes.Buffer
			reg := prometheus.NewRegistry()
			src := NewMemorySource()
			p, err := New(Config{Source: src, Mode: mode, IPTables: newFakeIPTables(), NFTables: newRecordingNFT(),
				ServiceCIDRs: []string{"10.96.0.0/16"}, Metrics: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			svcs, eps := outsideFixture()
			for _, s := range svcs {
				src.SetService(s)
			}
			for _, e := range eps {
				src.SetEndpoints(e)
			}
			for range 3 {
				if err := p.SyncOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if n := strings.Count(logs.String(), "cluster IP is outside the service CIDR"); n != 1 {
				t.Errorf("%d log lines about the outside Service, want 1:\n%s", n, logs.String())
			}
			if !strings.Contains(logs.String(), "service=default/outside clusterIP=8.8.8.8") {
				t.Errorf("the log does not name the Service and its IP:\n%s", logs.String())
			}
			const gauge = "bosun_proxy_services_outside_service_cidr"
			if v, ok := metricstest.Value(metricstest.Families(t, reg), gauge, nil); !ok || v != 1 {
				t.Errorf("%s = %v (found %v), want 1", gauge, v, ok)
			}

			// Fixed: the gauge drops, and no more log lines.
			src.SetService(nodePort(svc("default", "outside", "10.96.0.53", port("", 53, corev1.ProtocolUDP)), 30053))
			if err := p.SyncOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if v, _ := metricstest.Value(metricstest.Families(t, reg), gauge, nil); v != 0 {
				t.Errorf("%s = %v after the fix, want 0", gauge, v)
			}
		})
	}
}

func TestNewRefusesABadServiceCIDR(t *testing.T) {
	_, err := New(Config{Source: NewMemorySource(), IPTables: newFakeIPTables(), ServiceCIDRs: []string{"10.96.0.0/16", "10.96.0.0/33"}})
	if want := `proxy: service CIDR "10.96.0.0/33"`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("New = %v, want an error starting %q", err, want)
	}
}
