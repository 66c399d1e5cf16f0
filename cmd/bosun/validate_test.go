package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateServiceCIDR checks that bosun validate --service-cidr rejects
// a clusterIP outside the range, and that without the flag it is not checked.
func TestValidateServiceCIDR(t *testing.T) {
	dir := t.TempDir()
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  clusterIP: 8.8.8.8\n  ports:\n  - port: 80\n"
	if err := os.WriteFile(filepath.Join(dir, "svc.yaml"), []byte(svc), 0o644); err != nil {
		t.Fatal(err)
	}
	hostPath := t.TempDir()
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: agent\nspec:\n  containers:\n  - name: c\n    image: nginx:1\n  volumes:\n  - name: root\n    hostPath: {path: /}\n"
	if err := os.WriteFile(filepath.Join(hostPath, "pod.yaml"), []byte(pod), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"not checked", []string{dir}, 0, "1 object(s) in 1 file(s) are valid"},
		{"outside", []string{"--service-cidr", "10.96.0.0/16", dir}, 1, "svc.yaml:6: Service default/web: spec.clusterIP: clusterIP 8.8.8.8 is outside the service CIDR 10.96.0.0/16"},
		{"pod security, baseline by default", []string{hostPath}, 1, `pod.yaml:1: Pod default/agent: violates PodSecurity "baseline:latest": hostPath volumes (volume "root")`},
		{"pod security, privileged default", []string{"--pod-security-default", "privileged", hostPath}, 0, "1 object(s) in 1 file(s) are valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newValidateCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tt.args)
			err := cmd.Execute()
			code := 0
			var ee exitError
			if errors.As(err, &ee) {
				code = ee.code
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out.String(), tt.wantCode, tt.wantOut)
			}
		})
	}
}

// TestIPNetPrefix checks the conversion of --service-cidr for sync.
func TestIPNetPrefix(t *testing.T) {
	for _, cidr := range []string{"10.96.0.0/16", "fd00:10:96::/112"} {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if got := ipNetPrefix(n).String(); got != cidr {
			t.Errorf("ipNetPrefix(%s) = %s", cidr, got)
		}
	}
}
