//go:build !linux

package proxy

import (
	"errors"

	"sigs.k8s.io/knftables"
)

// NewNFTables fails: nftables needs Linux.
func NewNFTables(netNS string) (knftables.Interface, error) {
	return nil, errors.New("proxy: nftables needs Linux")
}
