package e2e

import "testing"

func TestClusterHasRoute(t *testing.T) {
	routes := "default via 10.9.0.254 dev eth0\n10.8.1.0/24 via 10.9.0.2 dev eth0 proto static\n10.8.0.0/24 dev bosun0 proto kernel scope link src 10.8.0.1\n"
	tests := []struct {
		name, cidr, gw string
		want           bool
	}{
		{name: "routed via the node", cidr: "10.8.1.0/24", gw: "10.9.0.2", want: true},
		{name: "via another address", cidr: "10.8.1.0/24", gw: "10.9.0.3"},
		{name: "local bridge, no gateway", cidr: "10.8.0.0/24", gw: "10.8.0.1"},
		{name: "no route", cidr: "10.8.2.0/24", gw: "10.9.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasRoute(routes, tt.cidr, tt.gw); got != tt.want {
				t.Errorf("hasRoute(%s via %s) = %v, want %v", tt.cidr, tt.gw, got, tt.want)
			}
		})
	}
}
