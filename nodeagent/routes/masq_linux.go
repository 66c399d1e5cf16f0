package routes

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"

	"github.com/coreos/go-iptables/iptables"
	"golang.org/x/sys/unix"
)

// IPTablesMasquerade is the real Masquerader: Chain in the nat table,
// jumped to from POSTROUTING, holding one MASQUERADE rule (go-iptables).
type IPTablesMasquerade struct {
	ipt   *iptables.IPTables
	netNS string
}

var _ Masquerader = (*IPTablesMasquerade)(nil)

// NewIPTablesMasquerade returns an IPTablesMasquerade for IPv4 in the
// network namespace at netnsPath, or the caller's when netnsPath is "".
func NewIPTablesMasquerade(netnsPath string) (*IPTablesMasquerade, error) {
	m := &IPTablesMasquerade{netNS: netnsPath}
	err := m.do(func() error {
		var err error
		m.ipt, err = iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Timeout(5))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("routes: iptables (make deps installs it): %w", err)
	}
	return m, nil
}

// jump is the rule in POSTROUTING that enters Chain.
var jump = []string{"-m", "comment", "--comment", "bosun pod network masquerade", "-j", Chain}

func masqRule(podCIDR, clusterCIDR netip.Prefix) []string {
	return []string{"-s", podCIDR.String(), "!", "-d", clusterCIDR.String(),
		"-m", "comment", "--comment", "bosun: pod traffic leaving the cluster", "-j", "MASQUERADE"}
}

// Ensure implements Masquerader.
func (m *IPTablesMasquerade) Ensure(podCIDR, clusterCIDR netip.Prefix) error {
	return m.do(func() error {
		if err := m.ensureChain(); err != nil {
			return err
		}
		if err := m.ipt.AppendUnique(TableNAT, "POSTROUTING", jump...); err != nil {
			return fmt.Errorf("jump from POSTROUTING to %s: %w", Chain, err)
		}
		rule := masqRule(podCIDR, clusterCIDR)
		ok, err := m.ipt.Exists(TableNAT, Chain, rule...)
		if err != nil {
			return fmt.Errorf("look for the rule in %s: %w", Chain, err)
		}
		rules, err := m.ipt.List(TableNAT, Chain)
		if err != nil {
			return fmt.Errorf("list %s: %w", Chain, err)
		}
		if ok && len(rules) == 2 { // "-N CHAIN" and the rule
			return nil
		}
		if err := m.ipt.ClearChain(TableNAT, Chain); err != nil {
			return fmt.Errorf("flush %s: %w", Chain, err)
		}
		if err := m.ipt.Append(TableNAT, Chain, rule...); err != nil {
			return fmt.Errorf("add the masquerade rule to %s: %w", Chain, err)
		}
		return nil
	})
}

func (m *IPTablesMasquerade) ensureChain() error {
	ok, err := m.ipt.ChainExists(TableNAT, Chain)
	if err != nil {
		return fmt.Errorf("look for chain %s: %w", Chain, err)
	}
	if !ok {
		if err := m.ipt.NewChain(TableNAT, Chain); err != nil {
			return fmt.Errorf("create chain %s: %w", Chain, err)
		}
	}
	return nil
}

// Remove deletes the jump from POSTROUTING and Chain; what is already gone
// is not an error.
func (m *IPTablesMasquerade) Remove() error {
	return m.do(func() error {
		ok, err := m.ipt.ChainExists(TableNAT, Chain)
		if err != nil {
			return fmt.Errorf("routes: look for chain %s: %w", Chain, err)
		}
		if !ok {
			return nil // no chain, so no jump to it either
		}
		if err := m.ipt.DeleteIfExists(TableNAT, "POSTROUTING", jump...); err != nil {
			return fmt.Errorf("routes: delete the jump to %s: %w", Chain, err)
		}
		if err := m.ipt.ClearAndDeleteChain(TableNAT, Chain); err != nil {
			return fmt.Errorf("routes: delete chain %s: %w", Chain, err)
		}
		return nil
	})
}

// Rules returns the rules of Chain as iptables -S prints them (for tests and
// diagnostics).
func (m *IPTablesMasquerade) Rules() ([]string, error) {
	var out []string
	err := m.do(func() error {
		var err error
		out, err = m.ipt.List(TableNAT, Chain)
		return err
	})
	if err != nil && !strings.Contains(err.Error(), "No chain") {
		return nil, fmt.Errorf("routes: list %s: %w", Chain, err)
	}
	return out, nil
}

// do runs fn in m's network namespace: iptables is exec'd from the calling
// OS thread, so fn runs on a thread that joined the namespace and is
// discarded afterwards.
func (m *IPTablesMasquerade) do(fn func() error) error {
	if m.netNS == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		fd, err := unix.Open(m.netNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("routes: open network namespace %s: %w", m.netNS, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("routes: enter network namespace %s: %w", m.netNS, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Cleanup deletes every route marked with Protocol and the masquerade chain
// in the network namespace at netnsPath ("" = the caller's): what bosun
// agent --cleanup does. It returns the number of routes deleted.
func Cleanup(netnsPath string) (int, error) {
	t, err := NewNetlinkTable(netnsPath)
	if err != nil {
		return 0, err
	}
	defer t.Close()
	rs, err := t.List()
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, r := range rs {
		if err := t.Delete(r); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	m, err := NewIPTablesMasquerade(netnsPath)
	if err != nil {
		errs = append(errs, err)
	} else if err := m.Remove(); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}
