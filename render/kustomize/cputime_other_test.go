//go:build !linux

package kustomize

import "time"

// cpuTime is not measured outside Linux; see cputime_linux_test.go.
func cpuTime() (time.Duration, bool) { return 0, false }
