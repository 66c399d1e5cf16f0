package main

import (
	"bytes"
	"runtime/debug"
	"testing"
)

func TestPrintVersion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		bi      *debug.BuildInfo
		want    string
	}{
		{
			name:    "dev build from a clean checkout",
			version: "dev",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "a4d7810"}, {Key: "vcs.modified", Value: "false"}}},
			want:    "bosun dev+a4d7810\ngit commit: a4d7810\ngo version: go1.26.8\nstore format: 1\n",
		},
		{
			name:    "release with local changes",
			version: "v0.23.0",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}},
			want:    "bosun v0.23.0\ngit commit: abc (modified)\ngo version: go1.26.8\nstore format: 1\n",
		},
		{
			name:    "no build information",
			version: "dev",
			want:    "bosun dev\ngit commit: unknown\ngo version: unknown\nstore format: 1\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			printVersion(&b, tc.version, tc.bi)
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}
