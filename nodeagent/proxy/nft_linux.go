package proxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	gnft "github.com/google/nftables"
	"golang.org/x/sys/unix"

	"sigs.k8s.io/knftables"
)

// NewNFTables returns the real knftables.Interface for bosun's table (ip
// NFTablesTable), driving the nft program (Debian's nftables package; make
// deps installs it). netNS, when not empty, is the path of a network
// namespace (e.g. /run/netns/NAME) whose nftables are programmed instead of
// the current one's. It fails when nft is missing or too old, or when the
// kernel refuses what bosun's table uses (nat chains, verdict maps with
// concatenated keys, numgen, fib, dynamic sets with timeouts): nft --check
// runs one rule of each kind without changing anything.
func NewNFTables(netNS string) (knftables.Interface, error) {
	var nft knftables.Interface
	err := inNetNS(netNS, func() error {
		var err error
		nft, err = knftables.New(knftables.IPv4Family, NFTablesTable)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: nftables: %w", err)
	}
	nft = &nftInterface{Interface: nft, path: netNS}
	if err := nft.Check(context.Background(), featureCheck(nft)); err != nil {
		return nil, fmt.Errorf("proxy: nftables: the kernel refuses bosun's rules: %w", err)
	}
	return nft, nil
}

// featureCheck is a transaction with one of each kind of object and match
// bosun's table uses.
func featureCheck(nft knftables.Interface) *knftables.Transaction {
	tx := nft.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Add(setObject(nftAffinitySetPrefix+"check", 10*time.Second))
	tx.Add(hairpinSet())
	tx.Add(hairpinElement("10.0.0.1 . 10.0.0.1"))
	for name, typ := range nftMaps {
		tx.Add(&knftables.Map{Name: name, Type: typ})
	}
	s := buildNFT(nil, nil, buildOptions{clusterCIDR: "10.0.0.0/8"})
	for name := range s.chains {
		tx.Add(chainObject(name))
	}
	for _, c := range []string{"check-a", "check-b"} {
		tx.Add(&knftables.Chain{Name: c})
	}
	for name, rules := range s.chains {
		addRules(tx, name, rules)
	}
	addRules(tx, "check-a", []nftRule{
		{rule: "ip saddr @" + nftAffinitySetPrefix + "check goto check-b"},
		{rule: "numgen random mod 2 == 0 goto check-b"},
	})
	addRules(tx, "check-b", []nftRule{
		{rule: "update @" + nftAffinitySetPrefix + "check { ip saddr }"},
		{rule: "meta l4proto tcp dnat to 10.0.0.1:80", comment: "check"},
	})
	e := nftElem{value: "goto check-a", comment: "check"}
	tx.Add(elementObject(nftServiceIPs, "10.0.0.2 . tcp . 80", &e))
	return tx
}

// inNetNS runs fn in the network namespace at path, or right here when path
// is empty.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	return RunInNetNS(path, fn)
}

// nftInterface runs every nft command of an Interface in a network
// namespace (path; "" is the caller's), and lists the table's objects
// through netlink (github.com/google/nftables): knftables' ListAll runs
// "nft --json list table", which dumps every rule and takes seconds on a
// table of thousands of Services; the names alone take milliseconds.
type nftInterface struct {
	knftables.Interface
	path string
}

func (n *nftInterface) Run(ctx context.Context, tx *knftables.Transaction) error {
	return inNetNS(n.path, func() error { return n.Interface.Run(ctx, tx) })
}

func (n *nftInterface) Check(ctx context.Context, tx *knftables.Transaction) error {
	return inNetNS(n.path, func() error { return n.Interface.Check(ctx, tx) })
}

// ListAll returns the names of the table's chains, sets and maps (not the
// anonymous sets nft makes for rules), and an empty map when the table does
// not exist.
func (n *nftInterface) ListAll(_ context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	var opts []gnft.ConnOption
	if n.path != "" {
		fd, err := unix.Open(n.path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("proxy: open network namespace %s: %w", n.path, err)
		}
		defer unix.Close(fd)
		opts = append(opts, gnft.WithNetNSFd(fd))
	}
	c, err := gnft.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("proxy: nftables netlink: %w", err)
	}
	tables, err := c.ListTablesOfFamily(gnft.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("proxy: list nftables tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *gnft.Table) bool { return t.Name == NFTablesTable }) {
		return out, nil
	}
	chains, err := c.ListChainsOfTableFamily(gnft.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("proxy: list nftables chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name == NFTablesTable {
			out["chain"] = append(out["chain"], ch.Name)
		}
	}
	sets, err := c.GetSets(&gnft.Table{Name: NFTablesTable, Family: gnft.TableFamilyIPv4})
	if err != nil {
		return nil, fmt.Errorf("proxy: list nftables sets: %w", err)
	}
	for _, s := range sets {
		switch {
		case s.Anonymous || strings.HasPrefix(s.Name, "__"):
		case s.IsMap:
			out["map"] = append(out["map"], s.Name)
		default:
			out["set"] = append(out["set"], s.Name)
		}
	}
	return out, nil
}

func (n *nftInterface) List(ctx context.Context, objectType string) (out []string, err error) {
	err = inNetNS(n.path, func() error { out, err = n.Interface.List(ctx, objectType); return err })
	return out, err
}

func (n *nftInterface) ListRules(ctx context.Context, chain string) (out []*knftables.Rule, err error) {
	err = inNetNS(n.path, func() error { out, err = n.Interface.ListRules(ctx, chain); return err })
	return out, err
}

func (n *nftInterface) ListElements(ctx context.Context, objectType, name string) (out []*knftables.Element, err error) {
	err = inNetNS(n.path, func() error { out, err = n.Interface.ListElements(ctx, objectType, name); return err })
	return out, err
}

func (n *nftInterface) ListCounters(ctx context.Context) (out []*knftables.Counter, err error) {
	err = inNetNS(n.path, func() error { out, err = n.Interface.ListCounters(ctx); return err })
	return out, err
}
