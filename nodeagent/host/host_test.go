package host

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestIP(t *testing.T) {
	tests := []struct {
		name    string
		flag    string
		want    string // "" = any address
		wantErr bool
	}{
		{name: "IPv4 flag", flag: "10.0.0.7", want: "10.0.0.7"},
		{name: "IPv6 flag", flag: "fd00::7", want: "fd00::7"},
		{name: "not an address", flag: "node-1", wantErr: true},
		{name: "default route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip, err := IP(tt.flag)
			if (err != nil) != tt.wantErr {
				t.Fatalf("IP(%q) err = %v, want error %v", tt.flag, err, tt.wantErr)
			}
			if tt.wantErr {
				if !strings.Contains(err.Error(), tt.flag) {
					t.Errorf("error %q does not name %q", err, tt.flag)
				}
				return
			}
			if ip == nil || ip.IsUnspecified() {
				t.Fatalf("IP(%q) = %v", tt.flag, ip)
			}
			if tt.want != "" && ip.String() != tt.want {
				t.Errorf("IP(%q) = %v, want %s", tt.flag, ip, tt.want)
			}
		})
	}
}

func TestCapacity(t *testing.T) {
	tests := []struct {
		name    string
		cpus    int
		meminfo string // "-" = none
		want    map[corev1.ResourceName]string
	}{
		{name: "meminfo", cpus: 4, meminfo: "MemTotal:        8049196 kB\nMemFree:         1000 kB\n",
			want: map[corev1.ResourceName]string{corev1.ResourceCPU: "4", corev1.ResourceMemory: "8049196Ki"}},
		{name: "no meminfo", cpus: 2, meminfo: "-", want: map[corev1.ResourceName]string{corev1.ResourceCPU: "2"}},
		{name: "no MemTotal", cpus: 1, meminfo: "MemFree: 10 kB\n", want: map[corev1.ResourceName]string{corev1.ResourceCPU: "1"}},
		{name: "garbled MemTotal", cpus: 1, meminfo: "MemTotal: lots kB\n", want: map[corev1.ResourceName]string{corev1.ResourceCPU: "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got corev1.ResourceList
			if tt.meminfo == "-" {
				got = capacity(tt.cpus, nil)
			} else {
				got = capacity(tt.cpus, strings.NewReader(tt.meminfo))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("capacity = %v, want %v", got, tt.want)
			}
			for name, want := range tt.want {
				q, ok := got[name]
				if !ok || q.String() != want {
					t.Errorf("%s = %v, want %s", name, q.String(), want)
				}
			}
		})
	}
	if c := Capacity(); c.Cpu().Value() < 1 {
		t.Errorf("Capacity() = %v: no CPU", c)
	}
}

func TestUsage(t *testing.T) {
	stat := "cpu  100 20 30 5000 40 1 2 3 0 0\ncpu0 50 10 15 2500 20 1 1 2 0 0\nintr 1\n"
	meminfo := "MemTotal:       1000 kB\nMemFree:         200 kB\nMemAvailable:    600 kB\nInactive(file):  150 kB\n"
	u, err := usage(strings.NewReader(stat), strings.NewReader(meminfo))
	if err != nil {
		t.Fatal(err)
	}
	want := Usage{CPUUsageNanos: (100 + 20 + 30 + 1 + 2 + 3) * 1e7, MemoryUsageBytes: 800 << 10,
		MemoryWorkingSetBytes: 650 << 10, MemoryAvailableBytes: 600 << 10}
	if u != want {
		t.Errorf("usage = %+v, want %+v", u, want)
	}
	if _, err := usage(strings.NewReader("intr 1\n"), strings.NewReader(meminfo)); err == nil {
		t.Error("usage without a cpu line: no error")
	}
	if _, err := ReadUsage(); err != nil {
		t.Logf("ReadUsage on this machine: %v", err)
	}
}
