package main

import (
	"strings"
	"testing"
)

func TestPodSecurityDefaultFlag(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "unknown level", args: []string{"--pod-security-default", "strict"},
			wantErr: `server: --pod-security-default: podsecurity: default level "strict": must be one of privileged, baseline, restricted`},
		{name: "level in capitals", args: []string{"--pod-security-default=Baseline"},
			wantErr: `default level "Baseline"`},
		{name: "empty level", args: []string{"--pod-security-default="},
			wantErr: `default level ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := etcdTestRun(t, append([]string{"server", "--repo", t.TempDir(), "--data-dir", t.TempDir()}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v\n%s: want an error with %q", err, out, tt.wantErr)
			}
		})
	}
}

func TestCheckPodSecurityDefault(t *testing.T) {
	for _, level := range []string{"privileged", "baseline", "restricted"} {
		if err := checkPodSecurityDefault(level); err != nil {
			t.Errorf("checkPodSecurityDefault(%q) = %v, want nil", level, err)
		}
	}
	cmd := newServerCommand(&globalOptions{})
	if got := cmd.Flags().Lookup("pod-security-default").DefValue; got != "baseline" {
		t.Errorf("--pod-security-default defaults to %q, want baseline", got)
	}
}
