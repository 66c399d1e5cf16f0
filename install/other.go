//go:build !linux

package install

import (
	"context"
	"errors"
	"time"
)

// errLinux is what the node parts return elsewhere.
var errLinux = errors.New("install: bosun's node runs on Linux only")

// Leftovers is Linux only.
func Leftovers(context.Context, LeftoverConfig) ([]string, error) { return nil, errLinux }

// StopProcesses is Linux only.
func StopProcesses(context.Context, string, time.Duration) error { return errLinux }
