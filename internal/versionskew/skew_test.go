package versionskew_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/internal/versionskew"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, server, agent string
		wantErr             string // "" when the agent may register
	}{
		{name: "same version", server: "v0.23.0", agent: "bosun/v0.23.0"},
		{name: "older patch", server: "v0.23.4", agent: "bosun/v0.23.1"},
		{name: "newer patch", server: "v0.23.1", agent: "bosun/v0.23.4"},
		{name: "one minor behind", server: "v0.24.0", agent: "bosun/v0.23.9"},
		{name: "without the prefix", server: "0.24.0", agent: "0.23.0"},
		{name: "release candidate", server: "v0.24.0-rc.1", agent: "bosun/v0.23.0"},
		{name: "two minors behind", server: "v0.25.0", agent: "bosun/v0.23.2",
			wantErr: "agent v0.23.2, server v0.25.0: outside the version skew policy (agents at most one minor version behind the server, never newer): the agent is 2 minor versions behind; upgrade the agent to v0.24 or later"},
		{name: "agent newer", server: "v0.23.0", agent: "bosun/v0.24.0",
			wantErr: "the agent is newer; upgrade the servers first"},
		{name: "other major", server: "v1.0.0", agent: "bosun/v0.9.0", wantErr: "a different major version"},
		{name: "development server", server: "dev", agent: "bosun/v0.10.0"},
		{name: "development agent", server: "v0.23.0", agent: "bosun/dev+a4d7810"},
		{name: "no version reported", server: "v0.23.0", agent: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := versionskew.Check(tc.server, tc.agent)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Check(%q, %q) = %v, want nil", tc.server, tc.agent, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, versionskew.ErrSkew) {
				t.Fatalf("Check(%q, %q) = %v, want ErrSkew containing %q", tc.server, tc.agent, err, tc.wantErr)
			}
		})
	}
}
