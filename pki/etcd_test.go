package pki

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func testEtcdConfig(t *testing.T, fc *testingclock.FakeClock) EtcdConfig {
	t.Helper()
	ca, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "pki"), WithClock(fc))
	if err != nil {
		t.Fatal(err)
	}
	return EtcdConfig{CA: ca, Dir: filepath.Join(t.TempDir(), "pki", EtcdDir), Hosts: []string{"192.0.2.10", "node-a"}, Clock: fc}
}

func etcdSerials(p *EtcdPKI) [3]string {
	return [3]string{
		p.Server.Current().Leaf.SerialNumber.String(),
		p.Peer.Current().Leaf.SerialNumber.String(),
		p.Client.Current().Leaf.SerialNumber.String(),
	}
}

func TestEnsureEtcdPKICreates(t *testing.T) {
	cfg := testEtcdConfig(t, testingclock.NewFakeClock(time.Now()))
	p, err := EnsureEtcdPKI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		kp    *KeyPair
		cn    string
		usage Usage
		hosts []string // names the certificate must verify for
	}{
		{"server", p.Server, EtcdServerCommonName, UsageBoth, []string{"127.0.0.1", "::1", "localhost", "192.0.2.10", "node-a"}},
		{"peer", p.Peer, EtcdPeerCommonName, UsageBoth, []string{"127.0.0.1", "192.0.2.10", "node-a"}},
		{"client", p.Client, EtcdClientCommonName, UsageClient, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := tc.kp.Current().Leaf
			if leaf.Subject.CommonName != tc.cn {
				t.Errorf("CN %q, want %q", leaf.Subject.CommonName, tc.cn)
			}
			if err := p.CA.Verify(leaf, tc.usage); err != nil {
				t.Errorf("not a %s certificate of the CA: %v", tc.usage, err)
			}
			for _, h := range tc.hosts {
				if err := leaf.VerifyHostname(h); err != nil {
					t.Errorf("does not name %s: %v", h, err)
				}
			}
			if tc.hosts == nil && (len(leaf.DNSNames) > 0 || len(leaf.IPAddresses) > 0) {
				t.Errorf("client credential names %v %v, want no names", leaf.DNSNames, leaf.IPAddresses)
			}
			fi, err := os.Stat(tc.kp.KeyFile())
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("key mode %v, want 0600", fi.Mode().Perm())
			}
			if filepath.Dir(tc.kp.KeyFile()) != cfg.Dir {
				t.Errorf("key in %s, want %s", tc.kp.KeyFile(), cfg.Dir)
			}
		})
	}
	ca, err := os.ReadFile(p.CAFile())
	if err != nil || string(ca) != string(cfg.CA.CertPEM()) {
		t.Errorf("CA file %s: %v; holds the CA: %t", p.CAFile(), err, string(ca) == string(cfg.CA.CertPEM()))
	}
	if fi, err := os.Stat(cfg.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory %s: %v, mode %v, want 0700", cfg.Dir, err, fi.Mode().Perm())
	}
}

func TestEnsureEtcdPKIKeepsOrReissues(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(*EtcdConfig, *EtcdPKI)
		renewed [3]bool // server, peer, client
	}{
		{"same config", func(*EtcdConfig, *EtcdPKI) {}, [3]bool{}},
		{"new host", func(c *EtcdConfig, _ *EtcdPKI) { c.Hosts = append(c.Hosts, "198.51.100.7") }, [3]bool{true, true, false}},
		{"due for renewal", func(c *EtcdConfig, p *EtcdPKI) {
			c.Clock.(*testingclock.FakeClock).SetTime(RenewAt(p.Server.Current().Leaf).Add(time.Minute))
		}, [3]bool{true, true, true}},
		{"client key removed", func(_ *EtcdConfig, p *EtcdPKI) { _ = os.Remove(p.Client.KeyFile()) }, [3]bool{false, false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testEtcdConfig(t, testingclock.NewFakeClock(time.Now()))
			first, err := EnsureEtcdPKI(cfg)
			if err != nil {
				t.Fatal(err)
			}
			tc.change(&cfg, first)
			again, err := EnsureEtcdPKI(cfg)
			if err != nil {
				t.Fatal(err)
			}
			before, after := etcdSerials(first), etcdSerials(again)
			for i, name := range []string{"server", "peer", "client"} {
				if got := before[i] != after[i]; got != tc.renewed[i] {
					t.Errorf("%s reissued: %t, want %t", name, got, tc.renewed[i])
				}
			}
		})
	}
}

func TestLoadEtcdClientTLS(t *testing.T) {
	cfg := testEtcdConfig(t, testingclock.NewFakeClock(time.Now()))
	p, err := EnsureEtcdPKI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := LoadEtcdClientTLS(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tc.GetClientCertificate(nil)
	if err != nil || got.Leaf.SerialNumber.Cmp(p.Client.Current().Leaf.SerialNumber) != 0 {
		t.Fatalf("client certificate %v, %v; want the etcd client credential", got, err)
	}
	if _, err := p.Server.Current().Leaf.Verify(x509.VerifyOptions{Roots: tc.RootCAs, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("the etcd server certificate does not verify against the loaded CA: %v", err)
	}
	if _, err := LoadEtcdClientTLS(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty directory: err = %v, want fs.ErrNotExist", err)
	}
}
