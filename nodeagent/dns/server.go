package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"

	"github.com/bosun-dev/bosun/internal/defaults"
)

// Defaults of Config.
const (
	// DefaultDomain is the cluster domain, as Kubernetes' default.
	DefaultDomain = "cluster.local"
	// DefaultTTL is the TTL of cluster records, as CoreDNS's kubernetes
	// plugin's default: short, since endpoints change.
	DefaultTTL = 5 * time.Second
	// DefaultForwardTimeout bounds one upstream exchange.
	DefaultForwardTimeout = 2 * time.Second
	// maxUDPSize is the largest EDNS0 payload the server advertises and
	// sends over UDP (the 2020 DNS flag day's recommendation).
	maxUDPSize = 1232
)

// Config configures a Server. Addr, Lister and (unless nothing is to be
// forwarded) Upstreams are required.
type Config struct {
	// Addr is the address both the UDP and the TCP listener bind:
	// "10.0.0.5:53" on a node, "127.0.0.1:0" in tests.
	Addr string
	// Domain is the cluster domain; default DefaultDomain.
	Domain string
	// Lister supplies Services and Endpoints (APISource for an agent).
	Lister Lister
	// Upstreams are the resolvers ("host:port") names outside the cluster
	// domain are forwarded to, tried in order: the host's resolv.conf
	// nameservers (ResolvConf.Upstreams), a fake on loopback in tests.
	// None: such names get SERVFAIL.
	Upstreams []string
	// Clients, when not empty, are the only source networks served; other
	// clients get REFUSED, so that a server on a node's address is no open
	// resolver. An agent passes the cluster CIDR and loopback.
	Clients []netip.Prefix
	// TTL of cluster records and of negative answers; default DefaultTTL.
	TTL time.Duration
	// ForwardTimeout bounds each upstream exchange; default
	// DefaultForwardTimeout.
	ForwardTimeout time.Duration
	// Logger receives the server's logs; nil discards.
	Logger *slog.Logger
}

// Server answers DNS queries over UDP and TCP: the cluster domain from its
// Lister, everything else forwarded to the upstream resolvers.
type Server struct {
	cfg Config
	log *slog.Logger
	res resolver

	mu      sync.Mutex
	udpAddr net.Addr
	tcpAddr net.Addr
	ready   chan struct{}
}

// New checks cfg and returns a Server; Run serves. Errors name the field
// that is wrong.
func New(cfg Config) (*Server, error) {
	if cfg.Lister == nil {
		return nil, errors.New("dns: Config.Lister is required")
	}
	if cfg.Addr == "" {
		return nil, errors.New("dns: Config.Addr is required")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("dns: Config.Addr %q: %w", cfg.Addr, err)
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	zone := dns.Fqdn(strings.ToLower(cfg.Domain))
	if _, ok := dns.IsDomainName(zone); !ok || zone == "." {
		return nil, fmt.Errorf("dns: Config.Domain %q is not a domain name", cfg.Domain)
	}
	for _, u := range cfg.Upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			return nil, fmt.Errorf("dns: Config.Upstreams: %q: %w", u, err)
		}
	}
	defaults.Positive(&cfg.TTL, DefaultTTL)
	defaults.Positive(&cfg.ForwardTimeout, DefaultForwardTimeout)
	defaults.Logger(&cfg.Logger)
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "dns"),
		res:   resolver{zone: zone, lister: cfg.Lister, ttl: uint32(cfg.TTL / time.Second)},
		ready: make(chan struct{}),
	}
	return s, nil
}

// Run listens on Config.Addr (UDP and TCP) and serves until ctx ends; it
// returns nil then, or the error that stopped a listener (the other one
// stopped too). With port 0 the
// TCP listener takes the port the UDP one got. Run it once.
func (s *Server) Run(ctx context.Context) error {
	pc, ln, err := listen(s.cfg.Addr)
	s.mu.Lock()
	if err == nil {
		s.udpAddr, s.tcpAddr = pc.LocalAddr(), ln.Addr()
	}
	s.mu.Unlock()
	close(s.ready)
	if err != nil {
		return err
	}

	servers := []*dns.Server{
		{PacketConn: pc, Handler: s.handler(ctx), UDPSize: dns.DefaultMsgSize},
		{Listener: ln, Handler: s.handler(ctx)},
	}
	s.log.Info("DNS server listening", "addr", pc.LocalAddr().String(), "domain", strings.TrimSuffix(s.res.zone, "."),
		"upstreams", strings.Join(s.cfg.Upstreams, ","))
	// One listener failing stops the other: Run returns its error.
	stopped, stop := context.WithCancel(ctx)
	defer stop()
	g := errgroup.Group{}
	for _, srv := range servers {
		g.Go(func() error {
			err := srv.ActivateAndServe()
			stop()
			if ctx.Err() != nil {
				return nil
			}
			return err
		})
	}
	<-stopped.Done()
	for _, srv := range servers {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_ = srv.ShutdownContext(sctx) // closes the listener; Serve returns
		cancel()
	}
	// A server not started yet when ctx ended refuses Shutdown: closing
	// its socket makes it fail (ignored) as soon as it starts.
	pc.Close()
	ln.Close()
	if err := g.Wait(); err != nil {
		return fmt.Errorf("dns: serve: %w", err)
	}
	return nil
}

// listen binds UDP and TCP on addr; with port 0, both on the same port
// (a few tries, since the TCP port may be taken).
func listen(addr string) (net.PacketConn, net.Listener, error) {
	host, port, _ := net.SplitHostPort(addr)
	var errs []error
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns: listen on udp %s: %w", addr, err)
		}
		tcpAddr := addr
		if port == "0" {
			tcpAddr = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		ln, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		errs = append(errs, fmt.Errorf("dns: listen on tcp %s: %w", tcpAddr, err))
		if port != "0" {
			break
		}
	}
	return nil, nil, errors.Join(errs...)
}

// Addrs returns the UDP and TCP addresses the server listens on, once Run
// has bound them; it blocks until then or until ctx ends, and returns nil,
// nil when ctx ended or Run could not listen.
func (s *Server) Addrs(ctx context.Context) (udp, tcp net.Addr) {
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr, s.tcpAddr
}

// handler returns the dns.Handler of one listener; ctx bounds forwarded
// exchanges.
func (s *Server) handler(ctx context.Context) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		m := s.answer(ctx, w.RemoteAddr(), isTCP(w), req)
		if m == nil {
			return
		}
		if err := w.WriteMsg(m); err != nil {
			s.log.Debug("writing a DNS answer", "client", w.RemoteAddr().String(), "err", err)
		}
	}
}

func isTCP(w dns.ResponseWriter) bool {
	_, ok := w.RemoteAddr().(*net.TCPAddr)
	return ok
}

// answer computes the reply to req from client (nil: send nothing).
func (s *Server) answer(ctx context.Context, client net.Addr, tcp bool, req *dns.Msg) *dns.Msg {
	if !s.allowed(client) {
		return errorReply(req, dns.RcodeRefused)
	}
	if req.Opcode != dns.OpcodeQuery {
		return errorReply(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return errorReply(req, dns.RcodeFormatError)
	}
	q := req.Question[0]
	lname := strings.ToLower(dns.Fqdn(q.Name))
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return s.forward(ctx, req, tcp)
	}
	if !s.res.inZone(lname) {
		rep, ok := s.res.reverse(q, lname)
		if !ok {
			return s.forward(ctx, req, tcp)
		}
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative, m.RecursionAvailable = true, true
		m.Answer = rep.answer
		return s.fit(m, req, tcp)
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true
	out, rep := s.res.resolve(q, lname)
	switch out {
	case notReady:
		return errorReply(req, dns.RcodeServerFailure)
	case nxdomain:
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{s.res.soa()}
	case found:
		m.Answer, m.Extra = rep.answer, rep.extra
		if rep.cname != "" {
			m.Answer = append(m.Answer, s.chase(ctx, req, rep.cname, tcp)...)
		}
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{s.res.soa()}
		}
	}
	return s.fit(m, req, tcp)
}

// chase resolves the target of an ExternalName Service's CNAME: in the
// cluster domain from the cache (one step, no further CNAME), elsewhere
// through the upstreams. A failure leaves the CNAME alone to the client.
func (s *Server) chase(ctx context.Context, req *dns.Msg, target string, tcp bool) []dns.RR {
	q := dns.Question{Name: target, Qtype: req.Question[0].Qtype, Qclass: dns.ClassINET}
	if s.res.inZone(target) {
		if out, rep := s.res.resolve(q, target); out == found && rep.cname == "" {
			return rep.answer
		}
		return nil
	}
	sub := new(dns.Msg)
	sub.SetQuestion(target, q.Qtype)
	sub.RecursionDesired = true
	r, err := s.exchange(ctx, sub, tcp)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		return nil
	}
	return r.Answer
}

// fit sets EDNS0 on m when req used it and truncates m to what the client
// accepts: its EDNS0 payload size (at least 512 bytes, at most
// maxUDPSize) over UDP, 64 KiB over TCP.
func (s *Server) fit(m, req *dns.Msg, tcp bool) *dns.Msg {
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		size = min(max(int(opt.UDPSize()), dns.MinMsgSize), maxUDPSize)
		if resp := m.IsEdns0(); resp != nil { // a forwarded answer has the upstream's
			resp.SetUDPSize(maxUDPSize)
		} else {
			m.SetEdns0(maxUDPSize, false)
		}
	}
	if tcp {
		size = dns.MaxMsgSize
	}
	m.Truncate(size)
	return m
}

// allowed reports whether client may use the server.
func (s *Server) allowed(client net.Addr) bool {
	if len(s.cfg.Clients) == 0 {
		return true
	}
	var ip netip.Addr
	switch a := client.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	ip = ip.Unmap()
	for _, p := range s.cfg.Clients {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forward sends req to the upstreams in turn, over the client's transport,
// and returns the first answer (a truncated UDP one as it is: the client
// asks again over TCP); SERVFAIL when none answers.
func (s *Server) forward(ctx context.Context, req *dns.Msg, tcp bool) *dns.Msg {
	r, err := s.exchange(ctx, req, tcp)
	if err != nil {
		s.log.Debug("forwarding a DNS query failed", "name", req.Question[0].Name, "err", err)
		return errorReply(req, dns.RcodeServerFailure)
	}
	r.Id = req.Id
	// The upstream may allow larger UDP answers than our client, and may
	// not answer in EDNS0 when asked in it.
	return s.fit(r, req, tcp)
}

// exchange asks the upstreams in order for req.
func (s *Server) exchange(ctx context.Context, req *dns.Msg, tcp bool) (*dns.Msg, error) {
	if len(s.cfg.Upstreams) == 0 {
		return nil, errors.New("no upstream resolvers")
	}
	c := &dns.Client{Net: "udp", Timeout: s.cfg.ForwardTimeout, UDPSize: maxUDPSize}
	if tcp {
		c.Net = "tcp"
	}
	var errs []error
	for _, u := range s.cfg.Upstreams {
		r, _, err := c.ExchangeContext(ctx, req, u)
		if err == nil {
			return r, nil
		}
		errs = append(errs, fmt.Errorf("upstream %s: %w", u, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// errorReply is an empty reply to req with rcode.
func errorReply(req *dns.Msg, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	return m
}
