package main

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestDNSClients(t *testing.T) {
	pods := netip.MustParsePrefix("10.244.0.0/16")
	tests := []struct {
		name   string
		dnsIP  string
		nodeIP string
		want   []string
	}{
		{"dns on the node IP", "192.168.1.5", "192.168.1.5", []string{"10.244.0.0/16", "127.0.0.0/8", "192.168.1.5/32"}},
		{"--cluster-dns elsewhere", "10.96.0.10", "192.168.1.5", []string{"10.244.0.0/16", "127.0.0.0/8", "10.96.0.10/32", "192.168.1.5/32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range dnsClients(pods, netip.MustParseAddr(tt.dnsIP), net.ParseIP(tt.nodeIP)) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("dnsClients = %v, want %v", got, tt.want)
			}
		})
	}
}
