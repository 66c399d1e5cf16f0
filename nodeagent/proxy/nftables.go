package proxy

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/knftables"
)

// NFTablesTable is the name of bosun's nftables table (family ip). Nothing
// outside it is ever written in nftables mode.
const NFTablesTable = "bosun"

// Fixed chains of bosun's nftables table.
const (
	nftServices               = "services"
	nftNodePorts              = "nodeports"
	nftMasquerading           = "masquerading"
	nftMarkMasq               = "mark-for-masquerade"
	nftReject                 = "reject-chain"
	nftServiceEndpointsCheck  = "service-endpoints-check"
	nftNodePortEndpointsCheck = "nodeport-endpoints-check"
)

// nftHairpin is the set of "endpoint IP . endpoint IP" pairs: a connection
// DNATed from a pod to itself has source == destination, and must be
// masqueraded, or the pod's reply would bypass the DNAT.
const nftHairpin = "hairpin"

// Verdict maps of bosun's nftables table. Their elements are the only
// per-Service state outside the per-Service chains.
const (
	// nftServiceIPs: cluster IP . protocol . port -> goto service chain.
	nftServiceIPs = "service-ips"
	// nftServiceNodePorts: protocol . node port -> goto external chain.
	nftServiceNodePorts = "service-nodeports"
	// nftNoEndpointServices: cluster IP . protocol . port -> goto
	// reject-chain, for service ports without a ready endpoint.
	nftNoEndpointServices = "no-endpoint-services"
	// nftNoEndpointNodePorts: protocol . node port -> goto reject-chain.
	nftNoEndpointNodePorts = "no-endpoint-nodeports"
)

// Prefixes of the per-Service chains and sets.
const (
	nftServiceChainPrefix  = "service-"
	nftExternalChainPrefix = "external-"
	nftEndpointChainPrefix = "endpoint-"
	nftAffinitySetPrefix   = "affinity-"
)

// nftMaps are the verdict maps and their types.
var nftMaps = map[string]string{
	nftServiceIPs:          "ipv4_addr . inet_proto . inet_service : verdict",
	nftServiceNodePorts:    "inet_proto . inet_service : verdict",
	nftNoEndpointServices:  "ipv4_addr . inet_proto . inet_service : verdict",
	nftNoEndpointNodePorts: "inet_proto . inet_service : verdict",
}

// nftBaseChain is a chain hooked into the kernel's packet path.
type nftBaseChain struct {
	typ      knftables.BaseChainType
	hook     knftables.BaseChainHook
	priority knftables.BaseChainPriority
}

// nftBaseChains are bosun's hooks. NAT runs at the usual dstnat (-100) and
// srcnat (100) priorities ("dstnat" is not accepted for the output hook by
// nft 1.0.6, hence the number); the reject checks run in the filter hooks,
// where a Service without endpoints still has its cluster IP as destination.
var nftBaseChains = map[string]nftBaseChain{
	"nat-prerouting":  {knftables.NATType, knftables.PreroutingHook, "-100"},
	"nat-output":      {knftables.NATType, knftables.OutputHook, "-100"},
	"nat-postrouting": {knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority},
	"filter-input":    {knftables.FilterType, knftables.InputHook, knftables.FilterPriority},
	"filter-forward":  {knftables.FilterType, knftables.ForwardHook, knftables.FilterPriority},
	"filter-output":   {knftables.FilterType, knftables.OutputHook, knftables.FilterPriority},
}

// nftRule is one rule of a chain, in nft syntax, with its comment.
type nftRule struct {
	rule, comment string
}

// nftElem is the value of one map element, with its comment.
type nftElem struct {
	value, comment string
}

// nftState is the content of bosun's nftables table: what a sync wants, or
// what the last successful sync wrote.
type nftState struct {
	chains map[string][]nftRule
	// maps: map name -> key (parts joined by " . ") -> element.
	maps map[string]map[string]nftElem
	// sets: ClientIP affinity set name -> timeout.
	sets map[string]time.Duration
	// hairpin: the elements of nftHairpin.
	hairpin map[string]bool
}

func newNFTState() *nftState {
	s := &nftState{chains: map[string][]nftRule{}, maps: map[string]map[string]nftElem{}, sets: map[string]time.Duration{}, hairpin: map[string]bool{}}
	for m := range nftMaps {
		s.maps[m] = map[string]nftElem{}
	}
	return s
}

// add appends a rule to chain, creating the chain.
func (s *nftState) add(chain, rule, comment string) {
	s.chains[chain] = append(s.chains[chain], nftRule{rule, truncateComment(comment)})
}

// element sets a map element.
func (s *nftState) element(m, key, value, comment string) {
	s.maps[m][key] = nftElem{value, truncateComment(comment)}
}

// truncateComment shortens a comment to what nftables stores.
func truncateComment(c string) string {
	if len(c) > knftables.CommentLengthMax {
		return c[:knftables.CommentLengthMax]
	}
	return c
}

// nftLabel is the readable part of a per-Service chain name:
// namespace/name/protocol/port.
func nftLabel(sp servicePort) string {
	return sp.svc.Namespace + "/" + sp.svc.Name + "/" + sp.protocol + "/" + portLabel(sp.port)
}

func nftServiceChain(sp servicePort) string {
	return nftServiceChainPrefix + chainHash(sp.name, sp.protocol) + "-" + nftLabel(sp)
}

func nftExternalChain(sp servicePort) string {
	return nftExternalChainPrefix + chainHash(sp.name, sp.protocol) + "-" + nftLabel(sp)
}

func nftEndpointChain(sp servicePort, endpoint string) string {
	host, port, _ := net.SplitHostPort(endpoint)
	return nftEndpointChainPrefix + chainHash(sp.name, sp.protocol, endpoint) + "-" + nftLabel(sp) + "__" + host + "/" + port
}

// nftAffinitySet names the set of clients stuck to endpoint; the timeout is
// part of the name, so that a changed timeout gives a new set.
func nftAffinitySet(sp servicePort, endpoint string, timeout int32) string {
	return nftAffinitySetPrefix + chainHash(sp.name, sp.protocol, endpoint, strconv.Itoa(int(timeout)))
}

// nftLocal is the match selecting traffic to this node: the node IPs, or
// every local address but loopback (node ports on 127.0.0.1 would need
// route_localnet, which bosun does not set; kube-proxy's nftables mode
// leaves them out too).
func (o buildOptions) nftLocal() string {
	if len(o.nodeIPs) == 0 {
		return "fib daddr type local ip daddr != 127.0.0.0/8"
	}
	return "ip daddr { " + strings.Join(o.nodeIPs, ", ") + " }"
}

// buildNFT computes the whole content of bosun's nftables table for the
// given Services and Endpoints. It is a pure function.
func buildNFT(services []*corev1.Service, eps []*corev1.Endpoints, opts buildOptions) *nftState {
	s := newNFTState()
	buildFixed(s, opts)
	idx := endpointsIndex(eps)
	for _, svc := range services {
		if opts.programmed(svc) {
			s.merge(buildService(svc, idx[svc.Namespace+"/"+svc.Name], opts))
		}
	}
	return s
}

// merge adds everything of o to s. Rule slices are shared, not copied:
// states are never changed once built.
func (s *nftState) merge(o *nftState) {
	maps.Copy(s.chains, o.chains)
	for m, elems := range o.maps {
		maps.Copy(s.maps[m], elems)
	}
	maps.Copy(s.sets, o.sets)
	maps.Copy(s.hairpin, o.hairpin)
}

// buildFixed adds the table's fixed chains to s.
func buildFixed(s *nftState, opts buildOptions) {
	s.add("nat-prerouting", "jump "+nftServices, "")
	s.add("nat-output", "jump "+nftServices, "")
	s.add("nat-postrouting", "ct status dnat ip saddr . ip daddr @"+nftHairpin+" jump "+nftMarkMasq, "hairpin: a pod reaching itself through its Service")
	s.add("nat-postrouting", "jump "+nftMasquerading, "")
	s.add("filter-input", "ct state new jump "+nftNodePortEndpointsCheck, "")
	s.add("filter-forward", "ct state new jump "+nftServiceEndpointsCheck, "")
	s.add("filter-forward", "ct state new jump "+nftNodePortEndpointsCheck, "")
	s.add("filter-output", "ct state new jump "+nftServiceEndpointsCheck, "")

	s.add(nftMarkMasq, "mark set mark or "+masqMark, "")
	s.add(nftMasquerading, "mark and "+masqMark+" == 0 return", "")
	// Clear the mark so that a packet traversing the chains again is not
	// masqueraded twice.
	s.add(nftMasquerading, "mark set mark xor "+masqMark, "")
	s.add(nftMasquerading, "masquerade fully-random", "bosun service traffic requiring SNAT")
	s.add(nftReject, "reject", "") // icmp port-unreachable, as iptables mode
	s.add(nftServiceEndpointsCheck, "ip daddr . meta l4proto . th dport vmap @"+nftNoEndpointServices, "")
	s.add(nftNodePortEndpointsCheck, opts.nftLocal()+" meta l4proto . th dport vmap @"+nftNoEndpointNodePorts, "")
	s.add(nftServices, "ip daddr . meta l4proto . th dport vmap @"+nftServiceIPs, "")
	// Node ports last, so that a cluster IP that happens to be local wins.
	s.add(nftServices, opts.nftLocal()+" jump "+nftNodePorts, "bosun service nodeports")
	s.add(nftNodePorts, "meta l4proto . th dport vmap @"+nftServiceNodePorts, "")

}

// buildService returns the chains, map elements and sets of the proxied
// Service svc, whose Endpoints are ep (nil when it has none).
func buildService(svc *corev1.Service, ep *corev1.Endpoints, opts buildOptions) *nftState {
	s := newNFTState()
	for _, sp := range portsOf(svc, ep) {
		ip := sp.svc.Spec.ClusterIP
		port := strconv.Itoa(int(sp.port.Port))
		key := ip + " . " + sp.protocol + " . " + port
		nodePort := ""
		if t := sp.svc.Spec.Type; (t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer) && sp.port.NodePort != 0 {
			nodePort = sp.protocol + " . " + strconv.Itoa(int(sp.port.NodePort))
		}
		if len(sp.endpoints) == 0 {
			// No ready endpoint: reject at once rather than let the
			// connection hang on an address nobody answers.
			s.element(nftNoEndpointServices, key, "goto "+nftReject, sp.name+" has no endpoints")
			if nodePort != "" {
				s.element(nftNoEndpointNodePorts, nodePort, "goto "+nftReject, sp.name+" has no endpoints")
			}
			continue
		}

		svcChain := nftServiceChain(sp)
		s.element(nftServiceIPs, key, "goto "+svcChain, sp.name+" cluster IP")
		s.chains[svcChain] = nil
		if opts.clusterCIDR != "" {
			s.add(svcChain, fmt.Sprintf("ip daddr %s %s dport %s ip saddr != %s jump %s", ip, sp.protocol, port, opts.clusterCIDR, nftMarkMasq), sp.name+" cluster IP")
		}
		if nodePort != "" {
			ext := nftExternalChain(sp)
			s.element(nftServiceNodePorts, nodePort, "goto "+ext, sp.name+" node port")
			s.add(ext, "jump "+nftMarkMasq, sp.name+" node port")
			s.add(ext, "goto "+svcChain, "")
		}

		for _, e := range sp.endpoints {
			host, _, _ := net.SplitHostPort(e)
			s.hairpin[host+" . "+host] = true
		}
		timeout := affinityTimeout(sp.svc)
		if timeout == 0 {
			// One rule per endpoint, no chain per endpoint: rule i DNATs
			// with probability 1/(n-i) (a fresh numgen draw per rule, as
			// iptables' statistic match), the last one always.
			for i, e := range sp.endpoints {
				s.add(svcChain, random(i, len(sp.endpoints))+"meta l4proto "+sp.protocol+" dnat to "+e, sp.name+" -> "+e)
			}
			continue
		}
		// ClientIP affinity: a chain per endpoint, which remembers its
		// clients in a timed set; a known client goes straight to its
		// endpoint, a new one is balanced.
		epChains := make([]string, len(sp.endpoints))
		for i, e := range sp.endpoints {
			epChains[i] = nftEndpointChain(sp, e)
			set := nftAffinitySet(sp, e, timeout)
			s.sets[set] = time.Duration(timeout) * time.Second
			s.add(svcChain, "ip saddr @"+set+" goto "+epChains[i], sp.name+" -> "+e)
		}
		for i, c := range epChains {
			s.add(svcChain, random(i, len(epChains))+"goto "+c, "")
		}
		for i, e := range sp.endpoints {
			c := epChains[i]
			s.add(c, "update @"+nftAffinitySet(sp, e, timeout)+" { ip saddr }", "")
			s.add(c, "meta l4proto "+sp.protocol+" dnat to "+e, sp.name+" -> "+e)
		}
	}
	return s
}

// random returns the match that picks rule i of n with probability 1/(n-i)
// when the rules before it did not match: nothing for the last rule. (A
// map from one numgen draw to the endpoints would make an anonymous set per
// Service, which the kernel creates and deletes in time growing with the
// number of sets: rewriting 5,000 Services took 28 s that way.)
func random(i, n int) string {
	if i == n-1 {
		return ""
	}
	return fmt.Sprintf("numgen random mod %d == 0 ", n-i)
}

// nftablesBackend programs bosun's nftables table (ModeNFTables).
type nftablesBackend struct {
	nft  knftables.Interface
	opts buildOptions
	// last is what the last successful sync wrote; nil means the table's
	// state is unknown and the next sync is a full one. Guarded by the
	// Proxier's mutex.
	last *nftState
	// frags are the Services of the last build, by namespace/name, so
	// that a Service whose objects did not change is not computed again.
	frags map[string]*svcFragment
}

// svcFragment is what one Service puts in the table, computed from these
// objects (Sources replace an object when it changes, never change it).
type svcFragment struct {
	svc   *corev1.Service
	ep    *corev1.Endpoints
	state *nftState
}

// build is buildNFT, taking unchanged Services from the last build.
func (b *nftablesBackend) build(svcs []*corev1.Service, eps []*corev1.Endpoints) *nftState {
	s := newNFTState()
	buildFixed(s, b.opts)
	idx := endpointsIndex(eps)
	next := make(map[string]*svcFragment, len(svcs))
	for _, svc := range svcs {
		if !b.opts.programmed(svc) {
			continue
		}
		k := svc.Namespace + "/" + svc.Name
		ep := idx[k]
		f := b.frags[k]
		if f == nil || f.svc != svc || f.ep != ep {
			f = &svcFragment{svc: svc, ep: ep, state: buildService(svc, ep, b.opts)}
		}
		next[k] = f
		s.merge(f.state)
	}
	b.frags = next
	return s
}

func newNFTablesBackend(nft knftables.Interface, opts buildOptions) *nftablesBackend {
	return &nftablesBackend{nft: nft, opts: opts}
}

func (b *nftablesBackend) sync(ctx context.Context, svcs []*corev1.Service, eps []*corev1.Endpoints, full bool) error {
	want := b.build(svcs, eps)
	last := b.last
	b.last = nil // until this sync succeeds
	if full || last == nil {
		existing, err := b.existing(ctx)
		if err != nil {
			return err
		}
		tx := b.nft.NewTransaction()
		writeFull(tx, want, existing, last)
		if err := b.nft.Run(ctx, tx); err != nil {
			// Something in the table is not as bosun left it (a base
			// chain changed by hand, say): replace the table whole, in
			// one transaction. Affinity sets start empty then.
			tx := b.nft.NewTransaction()
			tx.Add(&knftables.Table{})
			tx.Delete(&knftables.Table{})
			writeFull(tx, want, nil, nil)
			if err2 := b.nft.Run(ctx, tx); err2 != nil {
				return fmt.Errorf("proxy: nftables table ip %s: %w (replacing the table: %w)", NFTablesTable, err, err2)
			}
		}
	} else {
		tx := b.nft.NewTransaction()
		writeChanges(tx, want, last)
		if tx.NumOperations() > 0 {
			if err := b.nft.Run(ctx, tx); err != nil {
				return fmt.Errorf("proxy: nftables table ip %s: %w", NFTablesTable, err)
			}
		}
	}
	b.last = want
	return nil
}

// nftObjects are the names of the chains, sets and maps found in the table.
type nftObjects struct {
	chains, sets, maps []string
}

// existing lists what is in bosun's table now (nothing when there is no
// table).
func (b *nftablesBackend) existing(ctx context.Context) (*nftObjects, error) {
	all, err := b.nft.ListAll(ctx)
	if knftables.IsNotFound(err) {
		return &nftObjects{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: list nftables table ip %s: %w", NFTablesTable, err)
	}
	return &nftObjects{chains: all["chain"], sets: all["set"], maps: all["map"]}, nil
}

// chainObject returns the knftables object for chain, hooked when it is a
// base chain.
func chainObject(name string) *knftables.Chain {
	c := &knftables.Chain{Name: name}
	if bc, ok := nftBaseChains[name]; ok {
		c.Type, c.Hook, c.Priority = &bc.typ, &bc.hook, &bc.priority
	}
	return c
}

func setObject(name string, timeout time.Duration) *knftables.Set {
	return &knftables.Set{
		Name:    name,
		Type:    "ipv4_addr",
		Flags:   []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag},
		Timeout: &timeout,
	}
}

func hairpinSet() *knftables.Set {
	return &knftables.Set{Name: nftHairpin, Type: "ipv4_addr . ipv4_addr"}
}

func hairpinElement(key string) *knftables.Element {
	return &knftables.Element{Set: nftHairpin, Key: strings.Split(key, " . ")}
}

func addRules(tx *knftables.Transaction, chain string, rules []nftRule) {
	for _, r := range rules {
		rule := &knftables.Rule{Chain: chain, Rule: r.rule}
		if r.comment != "" {
			rule.Comment = &r.comment
		}
		tx.Add(rule)
	}
}

func elementObject(m, key string, e *nftElem) *knftables.Element {
	el := &knftables.Element{Map: m, Key: strings.Split(key, " . ")}
	if e != nil {
		el.Value = []string{e.value}
		if e.comment != "" {
			el.Comment = &e.comment
		}
	}
	return el
}

// perService reports whether chain belongs to one service port (rather
// than being one of the table's fixed chains).
func perService(chain string) bool {
	for _, p := range []string{nftServiceChainPrefix, nftExternalChainPrefix, nftEndpointChainPrefix} {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return false
}

// writeFull adds to tx what makes the table hold want whatever is in it now
// (existing: the names found in the table; nil when the table is being
// replaced), deleting every chain, set and map that want does not have.
// Objects are added before anything refers to them. With last nil (the
// first sync, or after a failure) every chain, map and set is flushed and
// refilled. Otherwise (a periodic resync) the fixed chains and the verdict
// maps are, and so are per-service chains that are missing or changed since
// last, while the hairpin set gets the elements that changed since last:
// rewriting thousands of service chains every SyncPeriod would cost seconds
// of kernel time for nothing. Affinity sets keep their clients either way.
func writeFull(tx *knftables.Transaction, want *nftState, existing *nftObjects, last *nftState) {
	have := map[string]bool{}
	if existing != nil {
		for _, names := range [][]string{existing.chains, existing.sets, existing.maps} {
			for _, n := range names {
				have[n] = true
			}
		}
	}
	comment := "bosun service proxy: cluster IPs and node ports of Services"
	tx.Add(&knftables.Table{Comment: &comment})
	for _, name := range slices.Sorted(maps.Keys(want.sets)) {
		tx.Add(setObject(name, want.sets[name]))
	}
	tx.Add(hairpinSet())
	if last == nil || !have[nftHairpin] {
		tx.Flush(hairpinSet())
		for _, k := range slices.Sorted(maps.Keys(want.hairpin)) {
			tx.Add(hairpinElement(k))
		}
	} else {
		writeHairpinChanges(tx, want, last)
	}
	for _, name := range slices.Sorted(maps.Keys(nftMaps)) {
		tx.Add(&knftables.Map{Name: name, Type: nftMaps[name]})
		tx.Flush(&knftables.Map{Name: name})
	}
	var rewrite []string
	for _, name := range slices.Sorted(maps.Keys(want.chains)) {
		switch {
		case !have[name]:
			tx.Add(chainObject(name))
		case last == nil || !perService(name) || !slices.Equal(last.chains[name], want.chains[name]):
			tx.Add(chainObject(name))
			tx.Flush(&knftables.Chain{Name: name})
		default:
			continue
		}
		rewrite = append(rewrite, name)
	}
	for _, name := range rewrite {
		addRules(tx, name, want.chains[name])
	}
	for _, m := range slices.Sorted(maps.Keys(want.maps)) {
		for _, key := range slices.Sorted(maps.Keys(want.maps[m])) {
			e := want.maps[m][key]
			tx.Add(elementObject(m, key, &e))
		}
	}
	if existing == nil {
		return
	}
	var staleChains []string
	for _, c := range existing.chains {
		if _, ok := want.chains[c]; !ok {
			staleChains = append(staleChains, c)
		}
	}
	slices.Sort(staleChains)
	// Flush every stale chain before deleting any: they may refer to
	// each other.
	for _, c := range staleChains {
		tx.Flush(&knftables.Chain{Name: c})
	}
	for _, c := range staleChains {
		tx.Delete(&knftables.Chain{Name: c})
	}
	for _, s := range existing.sets {
		if _, ok := want.sets[s]; !ok && s != nftHairpin {
			tx.Delete(&knftables.Set{Name: s})
		}
	}
	for _, m := range existing.maps {
		if _, ok := nftMaps[m]; !ok {
			tx.Delete(&knftables.Map{Name: m})
		}
	}
}

// writeHairpinChanges adds to tx the hairpin elements to delete and add to
// go from last to want.
func writeHairpinChanges(tx *knftables.Transaction, want, last *nftState) {
	for _, k := range sortedDiff(last.hairpin, want.hairpin) {
		tx.Delete(hairpinElement(k))
	}
	for _, k := range sortedDiff(want.hairpin, last.hairpin) {
		tx.Add(hairpinElement(k))
	}
}

// writeChanges adds to tx what turns the table from last into want: new
// sets and chains, changed chains flushed and rewritten, map elements
// deleted and added, and chains and sets no longer wanted deleted once
// nothing refers to them. Only the differences are sorted (for a stable
// transaction), so the cost follows the change, not the table.
func writeChanges(tx *knftables.Transaction, want, last *nftState) {
	for _, name := range sortedDiff(want.sets, last.sets) {
		tx.Add(setObject(name, want.sets[name]))
	}
	var added, changed []string
	for name, rules := range want.chains {
		prev, ok := last.chains[name]
		switch {
		case !ok:
			added = append(added, name)
		case !slices.Equal(prev, rules):
			changed = append(changed, name)
		}
	}
	slices.Sort(added)
	slices.Sort(changed)
	for _, name := range added {
		tx.Add(chainObject(name))
	}
	for _, name := range changed {
		tx.Flush(&knftables.Chain{Name: name})
	}
	for _, name := range append(added, changed...) {
		addRules(tx, name, want.chains[name])
	}
	for _, m := range slices.Sorted(maps.Keys(want.maps)) {
		w, l := want.maps[m], last.maps[m]
		var del, add []string
		for key, e := range l {
			if we, ok := w[key]; !ok || we != e {
				del = append(del, key)
			}
		}
		for key, e := range w {
			if le, ok := l[key]; !ok || le != e {
				add = append(add, key)
			}
		}
		slices.Sort(del)
		slices.Sort(add)
		for _, key := range del {
			tx.Delete(elementObject(m, key, nil))
		}
		for _, key := range add {
			e := w[key]
			tx.Add(elementObject(m, key, &e))
		}
	}
	writeHairpinChanges(tx, want, last)
	stale := sortedDiff(last.chains, want.chains)
	for _, c := range stale {
		tx.Flush(&knftables.Chain{Name: c})
	}
	for _, c := range stale {
		tx.Delete(&knftables.Chain{Name: c})
	}
	for _, name := range sortedDiff(last.sets, want.sets) {
		tx.Delete(&knftables.Set{Name: name})
	}
}

// sortedDiff returns the keys of a that b lacks, sorted.
func sortedDiff[V any](a, b map[string]V) []string {
	var out []string
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// cleanup deletes bosun's table, and nothing else.
func (b *nftablesBackend) cleanup(ctx context.Context) error {
	b.last = nil
	tx := b.nft.NewTransaction()
	// "add" first, so that the delete works whether or not it exists.
	tx.Add(&knftables.Table{})
	tx.Delete(&knftables.Table{})
	if err := b.nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("proxy: delete nftables table ip %s: %w", NFTablesTable, err)
	}
	return nil
}
