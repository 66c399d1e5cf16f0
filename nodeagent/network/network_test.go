package network

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBinDir holds empty executables named like the plugins, enough for
// New's existence check (nothing is executed in these tests).
func fakeBinDir(t *testing.T, plugins ...string) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range plugins {
		if err := os.WriteFile(filepath.Join(d, p), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestNewValidates(t *testing.T) {
	bin := fakeBinDir(t, requiredPlugins...)
	noPortmap := fakeBinDir(t, "loopback", "bridge", "host-local")
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "ok", cfg: Config{PodCIDR: "10.244.1.0/24", BinDirs: []string{bin}}},
		{name: "ok ipv6", cfg: Config{PodCIDR: "fd00:10::/64", BinDirs: []string{bin}}},
		{name: "no dir", cfg: Config{PodCIDR: "10.244.1.0/24", BinDirs: []string{bin}}, wantErr: "dir is required"},
		{name: "no cidr", cfg: Config{BinDirs: []string{bin}}, wantErr: "pod CIDR is required"},
		{name: "bad cidr", cfg: Config{PodCIDR: "10.244.1.0", BinDirs: []string{bin}}, wantErr: "pod CIDR"},
		{name: "host bits", cfg: Config{PodCIDR: "10.244.1.5/24", BinDirs: []string{bin}}, wantErr: "did you mean 10.244.1.0/24"},
		{name: "too small", cfg: Config{PodCIDR: "10.244.1.0/31", BinDirs: []string{bin}}, wantErr: "too small"},
		{name: "bridge name too long", cfg: Config{PodCIDR: "10.244.1.0/24", BinDirs: []string{bin}, Bridge: "a-very-long-bridge-name"}, wantErr: "not a valid interface name"},
		{name: "bad mtu", cfg: Config{PodCIDR: "10.244.1.0/24", BinDirs: []string{bin}, MTU: 100}, wantErr: "mtu 100"},
		{name: "missing plugin", cfg: Config{PodCIDR: "10.244.1.0/24", BinDirs: []string{noPortmap}}, wantErr: `plugin "portmap" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "no dir" {
				tt.cfg.Dir = t.TempDir()
			}
			n, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if n.pod.CNIVersion != "1.0.0" || len(n.pod.Plugins) != 2 || len(n.loopback.Plugins) != 1 {
					t.Fatalf("conflists: pod %s loopback %s", n.pod.Bytes, n.loopback.Bytes)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestConflist(t *testing.T) {
	bin := fakeBinDir(t, requiredPlugins...)
	dir := t.TempDir()
	if _, err := New(Config{Dir: dir, PodCIDR: "10.244.3.0/24", BinDirs: []string{bin}, MTU: 1400, Bridge: "br-test"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "net.d", "10-bosun.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []struct {
			Type         string          `json:"type"`
			Bridge       string          `json:"bridge"`
			IsGateway    bool            `json:"isGateway"`
			IPMasq       bool            `json:"ipMasq"`
			HairpinMode  bool            `json:"hairpinMode"`
			MTU          int             `json:"mtu"`
			Capabilities map[string]bool `json:"capabilities"`
			IPAM         struct {
				Type    string                `json:"type"`
				DataDir string                `json:"dataDir"`
				Ranges  [][]map[string]string `json:"ranges"`
				Routes  []map[string]string   `json:"routes"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.CNIVersion != "1.0.0" || got.Name != NetworkName || len(got.Plugins) != 2 {
		t.Fatalf("conflist header: %s", b)
	}
	br, pm := got.Plugins[0], got.Plugins[1]
	checks := []struct {
		name string
		ok   bool
	}{
		{"bridge type", br.Type == "bridge"},
		{"bridge name", br.Bridge == "br-test"},
		{"gateway, no masquerade (package routes does it), hairpin", br.IsGateway && !br.IPMasq && br.HairpinMode},
		{"mtu", br.MTU == 1400},
		{"host-local", br.IPAM.Type == "host-local"},
		{"ipam data dir under Dir", br.IPAM.DataDir == filepath.Join(dir, "ipam")},
		{"subnet", len(br.IPAM.Ranges) == 1 && len(br.IPAM.Ranges[0]) == 1 && br.IPAM.Ranges[0][0]["subnet"] == "10.244.3.0/24"},
		{"default route", len(br.IPAM.Routes) == 1 && br.IPAM.Routes[0]["dst"] == "0.0.0.0/0"},
		{"portmap", pm.Type == "portmap" && pm.Capabilities["portMappings"]},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: wrong in %s", c.name, b)
		}
	}
}

func TestPortMappingArgs(t *testing.T) {
	n := &Network{}
	tests := []struct {
		name  string
		ports []PortMapping
		want  string
	}{
		{name: "none", ports: nil, want: "null"},
		{name: "only container ports", ports: []PortMapping{{ContainerPort: 80}}, want: "null"},
		{name: "defaults to tcp", ports: []PortMapping{{HostPort: 8080, ContainerPort: 80}},
			want: `{"portMappings":[{"containerPort":80,"hostPort":8080,"protocol":"tcp"}]}`},
		{name: "udp with host ip", ports: []PortMapping{{HostPort: 53, ContainerPort: 5353, Protocol: "UDP", HostIP: "10.0.0.1"}},
			want: `{"portMappings":[{"containerPort":5353,"hostIP":"10.0.0.1","hostPort":53,"protocol":"udp"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(n.podRT("x", "/ns", tt.ports).CapabilityArgs)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("capability args %s, want %s", b, tt.want)
			}
		})
	}
}

func TestCheckID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"abc123", true}, {"pod_1.x-y", true}, {"", false}, {"-lead", false}, {"a/b", false}, {"..", false}, {strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if err := checkID(tt.id); (err == nil) != tt.ok {
				t.Fatalf("checkID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
			}
		})
	}
}
