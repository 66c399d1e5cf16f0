package network

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrNoPodCIDR is returned by a Lazy network while the node has no pod
// CIDR yet.
var ErrNoPodCIDR = errors.New("network: the node has no pod CIDR yet")

// Lazy is a node's pod network that is created on first use, once the
// control plane has assigned the node its pod CIDR (which happens after the
// node registers). Until then Setup and Teardown fail with ErrNoPodCIDR and
// the agent retries them.
type Lazy struct {
	cfg     Config
	podCIDR func(ctx context.Context) (string, error)

	mu  sync.Mutex
	net *Network
}

// NewLazy returns a Lazy network with cfg (whose PodCIDR is ignored) that
// asks podCIDR for the node's pod CIDR until it gets one.
func NewLazy(cfg Config, podCIDR func(ctx context.Context) (string, error)) *Lazy {
	return &Lazy{cfg: cfg, podCIDR: podCIDR}
}

// Network returns the network, creating it when the pod CIDR is known.
func (l *Lazy) Network(ctx context.Context) (*Network, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.net != nil {
		return l.net, nil
	}
	cidr, err := l.podCIDR(ctx)
	if err != nil {
		return nil, fmt.Errorf("network: read the node's pod CIDR: %w", err)
	}
	if cidr == "" {
		return nil, ErrNoPodCIDR
	}
	cfg := l.cfg
	cfg.PodCIDR = cidr
	n, err := New(cfg)
	if err != nil {
		return nil, err
	}
	l.net = n
	return n, nil
}

// Setup is Network.Setup on the node's network.
func (l *Lazy) Setup(ctx context.Context, id, namespace, name string, ports []PortMapping) (Attachment, error) {
	n, err := l.Network(ctx)
	if err != nil {
		return Attachment{}, err
	}
	return n.Setup(ctx, id, namespace, name, ports)
}

// Teardown is Network.Teardown on the node's network.
func (l *Lazy) Teardown(ctx context.Context, id string) error {
	n, err := l.Network(ctx)
	if err != nil {
		return err
	}
	return n.Teardown(ctx, id)
}
