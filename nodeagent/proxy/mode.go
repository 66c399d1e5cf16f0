package proxy

import "fmt"

// Mode is how the Proxier programs the kernel, as kube-proxy's --proxy-mode.
type Mode string

// Modes.
const (
	// ModeNFTables programs one nftables table of bosun's own (family ip,
	// named NFTablesTable) with nft transactions: verdict maps find a
	// Service in one lookup, and a sync writes only the chains and map
	// elements that changed.
	ModeNFTables Mode = "nftables"
	// ModeIPTables programs chains in iptables' nat and filter tables
	// with iptables-restore --noflush.
	ModeIPTables Mode = "iptables"
)

// ParseMode returns the Mode named s; "" is the default (see Config.Mode).
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "", ModeNFTables, ModeIPTables:
		return m, nil
	}
	return "", fmt.Errorf("proxy mode %q: want %s or %s", s, ModeNFTables, ModeIPTables)
}
