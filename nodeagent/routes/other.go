//go:build !linux

package routes

import (
	"errors"
	"net/netip"
)

var errNotLinux = errors.New("routes: host-gw routes and masquerading need Linux")

// NetlinkTable is the real Table; off Linux it cannot be created.
type NetlinkTable struct{}

// NewNetlinkTable fails off Linux.
func NewNetlinkTable(string) (*NetlinkTable, error) { return nil, errNotLinux }

// Close does nothing off Linux.
func (*NetlinkTable) Close() {}

// List fails off Linux.
func (*NetlinkTable) List() ([]Route, error) { return nil, errNotLinux }

// Replace fails off Linux.
func (*NetlinkTable) Replace(Route) error { return errNotLinux }

// Delete fails off Linux.
func (*NetlinkTable) Delete(Route) error { return errNotLinux }

// IPTablesMasquerade is the real Masquerader; off Linux it cannot be created.
type IPTablesMasquerade struct{}

// NewIPTablesMasquerade fails off Linux.
func NewIPTablesMasquerade(string) (*IPTablesMasquerade, error) { return nil, errNotLinux }

// Ensure fails off Linux.
func (*IPTablesMasquerade) Ensure(_, _ netip.Prefix) error { return errNotLinux }

// Remove fails off Linux.
func (*IPTablesMasquerade) Remove() error { return errNotLinux }

// Rules fails off Linux.
func (*IPTablesMasquerade) Rules() ([]string, error) { return nil, errNotLinux }

// Cleanup fails off Linux.
func Cleanup(string) (int, error) { return 0, errNotLinux }
