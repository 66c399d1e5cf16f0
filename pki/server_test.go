package pki

import (
	"crypto/x509"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/tools/clientcmd"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/testutil"
)

// testServerConfig is a server configuration in a new directory.
func testServerConfig(t *testing.T, fc *testingclock.FakeClock) ServerConfig {
	dataDir := t.TempDir()
	return ServerConfig{
		Dir:              filepath.Join(dataDir, "pki"),
		Hostname:         "Node-A",
		AdvertiseAddress: "192.0.2.10",
		TLSSANs:          []string{"bosun.example.com", "10.0.0.1", "192.0.2.10"},
		AdminKubeconfig:  filepath.Join(dataDir, "kubeconfig"),
		KubeconfigServer: "https://192.0.2.10:6443",
		Clock:            fc,
	}
}

func serials(s *ServerPKI) map[string]string {
	return map[string]string{
		"serving":   s.Serving.Current().Leaf.SerialNumber.String(),
		"admin":     s.Admin.Current().Leaf.SerialNumber.String(),
		"apiserver": s.APIServerClient.Current().Leaf.SerialNumber.String(),
	}
}

func TestEnsureServerPKICreates(t *testing.T) {
	fc := testingclock.NewFakeClock(time.Now())
	cfg := testServerConfig(t, fc)
	s, err := EnsureServerPKI(cfg)
	if err != nil {
		t.Fatalf("EnsureServerPKI: %v", err)
	}

	serving := s.Serving.Current().Leaf
	wantDNS := []string{"localhost", "node-a", "bosun.example.com"}
	wantIPs := []net.IP{net.ParseIP("127.0.0.1").To4(), net.ParseIP("::1"), net.ParseIP("192.0.2.10").To4(), net.ParseIP("10.0.0.1").To4()}
	if !sameSANs(serving, wantDNS, wantIPs) {
		t.Errorf("serving SANs %v %v, want %v %v", serving.DNSNames, serving.IPAddresses, wantDNS, wantIPs)
	}
	for _, name := range append(slices.Clone(wantDNS), "192.0.2.10", "::1") {
		if _, err := serving.Verify(x509.VerifyOptions{DNSName: name, Roots: s.CA.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate does not verify for %q: %v", name, err)
		}
	}
	for _, tc := range []struct {
		name string
		kp   *KeyPair
		want api.User
	}{
		{"admin", s.Admin, api.User{Name: api.UserAdmin, Groups: []string{api.GroupMasters}}},
		{"apiserver client", s.APIServerClient, api.User{Name: api.UserAPIServer, Groups: []string{api.GroupMasters}}},
	} {
		leaf := tc.kp.Current().Leaf
		if diff := cmp.Diff(tc.want, IdentityOf(leaf)); diff != "" {
			t.Errorf("%s identity (-want +got):\n%s", tc.name, diff)
		}
		if err := s.CA.Verify(leaf, UsageClient); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err := s.CA.Verify(leaf, UsageServer); err == nil {
			t.Errorf("%s certificate verifies for server auth; want client only", tc.name)
		}
		if got := fileMode(t, tc.kp.KeyFile()); got != 0o600 {
			t.Errorf("%s key mode %o, want 600", tc.name, got)
		}
	}
	if got := fileMode(t, cfg.Dir); got != 0o700 {
		t.Errorf("pki directory mode %o, want 700", got)
	}

	kc, err := clientcmd.LoadFromFile(cfg.AdminKubeconfig)
	if err != nil {
		t.Fatalf("admin kubeconfig: %v", err)
	}
	ctx := kc.Contexts[kc.CurrentContext]
	certPEM, _ := s.Admin.PEM()
	if string(kc.AuthInfos[ctx.AuthInfo].ClientCertificateData) != string(certPEM) || kc.Clusters[ctx.Cluster].Server != cfg.KubeconfigServer {
		t.Errorf("admin kubeconfig does not hold the admin certificate and server %s", cfg.KubeconfigServer)
	}
	if got := fileMode(t, cfg.AdminKubeconfig); got != 0o600 {
		t.Errorf("admin kubeconfig mode %o, want 600", got)
	}
}

func TestEnsureServerPKIRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, cfg *ServerConfig, s *ServerPKI)
		// reissued lists the pairs a restart must replace.
		reissued []string
	}{
		{name: "unchanged", change: func(*testing.T, *ServerConfig, *ServerPKI) {}},
		{
			name:     "names reordered",
			change:   func(_ *testing.T, cfg *ServerConfig, _ *ServerPKI) { slices.Reverse(cfg.TLSSANs) },
			reissued: nil,
		},
		{
			name:     "new --tls-san",
			change:   func(_ *testing.T, cfg *ServerConfig, _ *ServerPKI) { cfg.TLSSANs = append(cfg.TLSSANs, "10.9.9.9") },
			reissued: []string{"serving"},
		},
		{
			name:     "new advertise address",
			change:   func(_ *testing.T, cfg *ServerConfig, _ *ServerPKI) { cfg.AdvertiseAddress = "192.0.2.99" },
			reissued: []string{"serving"},
		},
		{
			name: "admin certificate of another identity",
			change: func(t *testing.T, _ *ServerConfig, s *ServerPKI) {
				certPEM, keyPEM := issueTo(t, s.CA, Request{User: userNamed("mallory", api.GroupMasters), Usage: UsageClient})
				if err := s.Admin.Store(certPEM, keyPEM); err != nil {
					t.Fatal(err)
				}
			},
			reissued: []string{"admin"},
		},
		{
			name: "API server client key lost",
			change: func(t *testing.T, _ *ServerConfig, s *ServerPKI) {
				removeFile(t, s.APIServerClient.KeyFile())
			},
			reissued: []string{"apiserver"},
		},
		{
			name: "due for renewal",
			change: func(_ *testing.T, cfg *ServerConfig, s *ServerPKI) {
				cfg.Clock.(*testingclock.FakeClock).SetTime(RenewAt(s.Serving.Current().Leaf).Add(time.Minute))
			},
			reissued: []string{"serving", "admin", "apiserver"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := testingclock.NewFakeClock(time.Now())
			cfg := testServerConfig(t, fc)
			s, err := EnsureServerPKI(cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := serials(s)
			tc.change(t, &cfg, s)
			// The serial of a pair a change replaced on disk counts as the old one.
			if got := serials(s); !cmp.Equal(got, before) {
				for k, v := range got {
					before[k] = v
				}
			}
			again, err := EnsureServerPKI(cfg)
			if err != nil {
				t.Fatalf("second EnsureServerPKI: %v", err)
			}
			if again.CA.Hash() != s.CA.Hash() {
				t.Fatal("a restart changed the CA")
			}
			after := serials(again)
			for name, old := range before {
				if changed, want := after[name] != old, slices.Contains(tc.reissued, name); changed != want {
					t.Errorf("%s reissued = %v, want %v", name, changed, want)
				}
			}
			kc, err := clientcmd.LoadFromFile(cfg.AdminKubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			certPEM, _ := again.Admin.PEM()
			if string(kc.AuthInfos[api.UserAdmin].ClientCertificateData) != string(certPEM) {
				t.Error("admin kubeconfig does not hold the current admin certificate")
			}
		})
	}
}

// TestServerPKIRun proves that the server renews its three pairs in
// memory, on disk and in the admin kubeconfig once a third of their
// lifetime is left.
func TestServerPKIRun(t *testing.T) {
	fc := testingclock.NewFakeClock(time.Now())
	cfg := testServerConfig(t, fc)
	cfg.Validity = 3 * time.Hour
	s, err := EnsureServerPKI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	before := serials(s)
	renewAt := RenewAt(s.Serving.Current().Leaf)
	testutil.Start(t, s.Run)

	testutil.EventuallyTrue(t, 5*time.Second, "three renewers waiting", func() bool { return fc.Waiters() == 3 })
	fc.SetTime(renewAt.Add(time.Minute))
	testutil.Eventually(t, 5*time.Second, "every pair renewed", func() (bool, string) {
		after := serials(s)
		for name, old := range before {
			if after[name] == old {
				return false, name + " not renewed"
			}
		}
		return true, ""
	})
	for _, kp := range []*KeyPair{s.Serving, s.Admin, s.APIServerClient} {
		onDisk, err := LoadKeyPair(kp.CertFile(), kp.KeyFile())
		if err != nil {
			t.Fatal(err)
		}
		if onDisk.Current().Leaf.SerialNumber.Cmp(kp.Current().Leaf.SerialNumber) != 0 {
			t.Errorf("%s on disk differs from memory", kp.CertFile())
		}
	}
	if !sameSANs(s.Serving.Current().Leaf, s.dnsNames, s.ips) {
		t.Error("the renewed serving certificate lost names")
	}
	certPEM, _ := s.Admin.PEM()
	testutil.EventuallyTrue(t, 5*time.Second, "admin kubeconfig rewritten", func() bool {
		kc, err := clientcmd.LoadFromFile(cfg.AdminKubeconfig)
		return err == nil && string(kc.AuthInfos[api.UserAdmin].ClientCertificateData) == string(certPEM)
	})
}
