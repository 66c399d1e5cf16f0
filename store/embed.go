package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// Defaults of EmbedConfig.
const (
	DefaultEmbedName         = "bosun"
	DefaultClientURL         = "http://127.0.0.1:2379"
	DefaultPeerURL           = "http://127.0.0.1:2380"
	DefaultEmbedMaxTxnOps    = 100000
	DefaultEmbedMaxReqBytes  = 64 * 1024 * 1024
	DefaultQuotaBackendBytes = 8 * 1024 * 1024 * 1024
	DefaultStartTimeout      = time.Minute
)

// Raft timing for a member that is and stays the only one (a plain-HTTP
// embedded etcd, which no member can join), for EmbedConfig's TickMs and
// ElectionMs. On a start etcd fast-forwards a lone member's election clock
// to one tick before the election timeout, but raft then waits a random
// extra of up to ElectionMs: with the defaults (100 and 1000) a restarted
// server is leaderless, and serves nothing, for 0.1 to 1 s. With these, for
// 20 to 100 ms. With no peer there are no heartbeats to send and no vote to
// lose, so the shorter timeout cannot cause an election later; it costs a
// raft tick 50 times a second instead of 10. Members of a cluster that may
// grow keep the defaults.
const (
	SingleMemberTickMs     = 20
	SingleMemberElectionMs = 100
)

// EmbedConfig configures an etcd server run inside the bosun process.
type EmbedConfig struct {
	// DataDir holds etcd's WAL and database (required). Starting again on the same
	// directory keeps the data.
	DataDir string
	// Name of the etcd member; default "bosun".
	Name string
	// ClientURL is where clients connect; default "http://127.0.0.1:2379". Port 0
	// picks a free port (see Endpoints for the one chosen).
	ClientURL string
	// PeerURL is the raft peer URL; default "http://127.0.0.1:2380". Port 0 picks a
	// free port.
	PeerURL string
	// TickMs and ElectionMs are the raft heartbeat and election timeouts in
	// milliseconds; defaults 100 and 1000. Tests use 10 and 100.
	TickMs, ElectionMs uint
	// MaxTxnOps is etcd's --max-txn-ops; default 100000, so that one Git commit
	// fits in one transaction.
	MaxTxnOps uint
	// MaxRequestBytes is etcd's --max-request-bytes; default 64 MiB.
	MaxRequestBytes uint
	// QuotaBackendBytes is etcd's --quota-backend-bytes; default 8 GiB.
	QuotaBackendBytes int64
	// Logger receives etcd's own log lines of level warning and above; nil
	// discards them.
	Logger *slog.Logger
	// StartTimeout bounds how long StartEmbedded waits for etcd to be ready;
	// default one minute.
	StartTimeout time.Duration
	// UnsafeNoFsync turns off etcd's fsync calls. Only for tests and benchmarks:
	// a crash can lose or corrupt data.
	UnsafeNoFsync bool
	// TLS, when set, serves the client and peer ports over TLS, both
	// requiring a client certificate from the CA it names; ClientURL and
	// PeerURL must then be https. When nil both are plain http, which is
	// only safe on loopback.
	TLS *EmbedTLS
	// InitialCluster is etcd's --initial-cluster ("name=peerURL,..."),
	// read only when the data directory is new. Empty means a new cluster
	// of this member alone. A member joining a running cluster gets it
	// from AddLearner.
	InitialCluster string
	// ClusterState is ClusterStateNew (the default: this member starts a
	// cluster) or ClusterStateExisting (it joins the running cluster named
	// by InitialCluster, after AddLearner added it). Read only when the
	// data directory is new.
	ClusterState string
}

// Values of EmbedConfig.ClusterState (etcd's --initial-cluster-state).
const (
	ClusterStateNew      = embed.ClusterStateFlagNew
	ClusterStateExisting = embed.ClusterStateFlagExisting
)

// EmbedTLS is the embedded member's TLS: its certificates (files etcd
// reads again at each handshake, so renewing them on disk takes effect
// without a restart), the one CA it trusts, and its own client's
// configuration. pki.EtcdPKI provides all of it.
type EmbedTLS struct {
	// CAFile is the CA certificate clients and peers must be signed by.
	CAFile string
	// ServerCertFile and ServerKeyFile serve the client port.
	ServerCertFile, ServerKeyFile string
	// PeerCertFile and PeerKeyFile serve the peer port and authenticate
	// this member to the others; the certificate must allow server and
	// client use and name the address the member dials peers from.
	PeerCertFile, PeerKeyFile string
	// ClientCNs and PeerCNs, when set, are the only certificate subjects
	// (CN) the client and peer ports accept.
	ClientCNs, PeerCNs []string
	// Client configures the Embedded's own client: its certificate and
	// the CA it trusts (required).
	Client *tls.Config
}

// Embedded is a running embedded etcd server with a client connected to it.
type Embedded struct {
	etcd      *embed.Etcd
	client    *clientv3.Client
	endpoints []string
	cfg       EmbedConfig
	closing   *atomic.Bool
}

// StartEmbedded starts etcd as configured and waits until it serves clients, ctx
// ends or StartTimeout passes. Ports given as 0 are chosen free; a start that
// loses a chosen port to another process is retried with new ports.
func StartEmbedded(ctx context.Context, cfg EmbedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("store: embedded etcd: %w: DataDir is required", api.ErrInvalid)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultEmbedName
	}
	if cfg.ClientURL == "" {
		cfg.ClientURL = DefaultClientURL
	}
	if cfg.PeerURL == "" {
		cfg.PeerURL = DefaultPeerURL
	}
	if err := checkEmbedConfig(cfg); err != nil {
		return nil, err
	}
	if cfg.TickMs == 0 {
		cfg.TickMs = 100
	}
	if cfg.ElectionMs == 0 {
		cfg.ElectionMs = 10 * cfg.TickMs
	}
	if cfg.MaxTxnOps == 0 {
		cfg.MaxTxnOps = DefaultEmbedMaxTxnOps
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = DefaultEmbedMaxReqBytes
	}
	if cfg.QuotaBackendBytes == 0 {
		cfg.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	defaults.Positive(&cfg.StartTimeout, DefaultStartTimeout)
	logger := cfg.Logger
	defaults.Logger(&logger)
	cfg.Logger = logger
	closing := new(atomic.Bool)
	zl := zap.New(newSlogCore(logger.With("component", "etcd"), closing))

	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	const attempts = 5
	for i := 1; ; i++ {
		e, picked, err := startOnce(ctx, cfg, zl)
		if err == nil {
			e.closing = closing
			return e, nil
		}
		if !picked || i == attempts || !isAddrInUse(err) || ctx.Err() != nil {
			return nil, err
		}
		logger.Warn("embedded etcd lost a chosen port to another process; retrying with new ports", "err", err)
	}
}

// checkEmbedConfig refuses URL schemes that do not match TLS, a join
// without the cluster to join, and a joining member whose peer URL is not
// the one it was added with.
func checkEmbedConfig(cfg EmbedConfig) error {
	want := "http"
	if cfg.TLS != nil {
		want = "https"
		if cfg.TLS.CAFile == "" || cfg.TLS.ServerCertFile == "" || cfg.TLS.ServerKeyFile == "" ||
			cfg.TLS.PeerCertFile == "" || cfg.TLS.PeerKeyFile == "" || cfg.TLS.Client == nil {
			return fmt.Errorf("store: embedded etcd: %w: TLS needs CAFile, server and peer certificate and key files, and Client", api.ErrInvalid)
		}
	}
	for _, u := range []struct{ name, raw string }{{"ClientURL", cfg.ClientURL}, {"PeerURL", cfg.PeerURL}} {
		parsed, err := url.Parse(u.raw)
		if err != nil {
			return fmt.Errorf("store: embedded etcd: %w: %s %q: %w", api.ErrInvalid, u.name, u.raw, err)
		}
		if parsed.Scheme != want {
			return fmt.Errorf("store: embedded etcd: %w: %s %q: want an %s URL (TLS set: %t)", api.ErrInvalid, u.name, u.raw, want, cfg.TLS != nil)
		}
	}
	switch cfg.ClusterState {
	case "", ClusterStateNew:
	case ClusterStateExisting:
		if cfg.InitialCluster == "" {
			return fmt.Errorf("store: embedded etcd: %w: ClusterState %q needs InitialCluster, the cluster to join (AddLearner returns it)", api.ErrInvalid, cfg.ClusterState)
		}
		if u, err := url.Parse(cfg.PeerURL); err == nil && u.Port() == "0" {
			return fmt.Errorf("store: embedded etcd: %w: a joining member's PeerURL %q must be the one it was added with, not port 0", api.ErrInvalid, cfg.PeerURL)
		}
	default:
		return fmt.Errorf("store: embedded etcd: %w: ClusterState %q: want %q or %q", api.ErrInvalid, cfg.ClusterState, ClusterStateNew, ClusterStateExisting)
	}
	return nil
}

func isAddrInUse(err error) bool {
	return err != nil && strings.Contains(err.Error(), "address already in use")
}

// startOnce makes one start attempt. picked says whether free ports were chosen.
func startOnce(ctx context.Context, cfg EmbedConfig, zl *zap.Logger) (*Embedded, bool, error) {
	curl, cpicked, err := resolveURL(cfg.ClientURL)
	if err != nil {
		return nil, false, err
	}
	purl, ppicked, err := resolveURL(cfg.PeerURL)
	if err != nil {
		return nil, false, err
	}
	picked := cpicked || ppicked

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir
	ec.ListenClientUrls = []url.URL{*curl}
	ec.AdvertiseClientUrls = []url.URL{*curl}
	ec.ListenPeerUrls = []url.URL{*purl}
	ec.AdvertisePeerUrls = []url.URL{*purl}
	ec.InitialCluster = ec.InitialClusterFromName(cfg.Name)
	if cfg.InitialCluster != "" {
		ec.InitialCluster = cfg.InitialCluster
	}
	if cfg.ClusterState != "" {
		ec.ClusterState = cfg.ClusterState
	}
	var clientTLS *tls.Config
	if t := cfg.TLS; t != nil {
		ec.ClientTLSInfo = transport.TLSInfo{
			CertFile:       t.ServerCertFile,
			KeyFile:        t.ServerKeyFile,
			TrustedCAFile:  t.CAFile,
			ClientCertAuth: true,
			AllowedCNs:     t.ClientCNs,
		}
		ec.PeerTLSInfo = transport.TLSInfo{
			CertFile:       t.PeerCertFile,
			KeyFile:        t.PeerKeyFile,
			TrustedCAFile:  t.CAFile,
			ClientCertAuth: true,
			AllowedCNs:     t.PeerCNs,
		}
		clientTLS = t.Client.Clone()
	}
	ec.TickMs = cfg.TickMs
	ec.ElectionMs = cfg.ElectionMs
	ec.MaxTxnOps = cfg.MaxTxnOps
	ec.MaxRequestBytes = cfg.MaxRequestBytes
	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	ec.Logger = "zap"
	ec.LogLevel = "warn"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zl)

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, picked, fmt.Errorf("store: start embedded etcd in %s: %w", cfg.DataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, picked, fmt.Errorf("store: start embedded etcd in %s: %w", cfg.DataDir, err)
	case <-ctx.Done():
		e.Close()
		return nil, false, fmt.Errorf("store: start embedded etcd in %s: not ready: %w", cfg.DataDir, ctx.Err())
	}
	// The leader decides the cluster version just after it is elected; a
	// member that joins before then is refused as "incompatible with
	// current running cluster". Ready means decided.
	for e.Server.ClusterVersion() == nil {
		select {
		case err := <-e.Err():
			e.Close()
			return nil, false, fmt.Errorf("store: start embedded etcd in %s: %w", cfg.DataDir, err)
		case <-ctx.Done():
			e.Close()
			return nil, false, fmt.Errorf("store: start embedded etcd in %s: no cluster version decided: %w", cfg.DataDir, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	var eps []string
	for _, l := range e.Clients {
		eps = append(eps, curl.Scheme+"://"+l.Addr().String())
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 5 * time.Second,
		Context:     context.WithoutCancel(ctx),
		// Room for the largest request the server accepts, plus gRPC framing.
		MaxCallSendMsgSize: int(cfg.MaxRequestBytes) + 1024*1024,
		Logger:             zl,
		TLS:                clientTLS,
	})
	if err != nil {
		e.Close()
		return nil, false, fmt.Errorf("store: connect to embedded etcd: %w", err)
	}
	emb := &Embedded{etcd: e, client: c, endpoints: eps, cfg: cfg}
	emb.updatePeerURLs(ctx)
	return emb, false, nil
}

// updatePeerURLs makes the cluster's record of this member's peer URLs
// the ones it now advertises, when they differ: a member restarted with
// another peer URL (e.g. a single server switched to TLS with
// --cluster-init) is otherwise dialled at its old one by members added
// later. etcd's runtime reconfiguration guide does the same with "member
// update". A failure is only logged: the member serves its clients
// either way.
func (e *Embedded) updatePeerURLs(ctx context.Context) {
	self := e.etcd.Server.Cluster().Member(e.etcd.Server.MemberID())
	if self == nil {
		return
	}
	want := e.PeerURLs()
	have := slices.Clone(self.PeerURLs)
	slices.Sort(want)
	slices.Sort(have)
	if slices.Equal(want, have) {
		return
	}
	if _, err := e.client.MemberUpdate(ctx, uint64(self.ID), want); err != nil {
		e.cfg.Logger.Warn("could not record this member's new peer URLs in the cluster; members added later may not reach it",
			"old", have, "new", want, "err", err)
		return
	}
	e.cfg.Logger.Info("recorded this member's new peer URLs in the cluster", "old", have, "new", want)
}

// resolveURL parses u and replaces port 0 with a free port of its host.
func resolveURL(raw string) (*url.URL, bool, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, false, fmt.Errorf("store: embedded etcd: %w: url %q: %w", api.ErrInvalid, raw, err)
	}
	if u.Port() != "0" {
		return u, false, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(u.Hostname(), "0"))
	if err != nil {
		return nil, false, fmt.Errorf("store: embedded etcd: pick a free port for %s: %w", raw, err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return nil, false, fmt.Errorf("store: embedded etcd: pick a free port for %s: %w", raw, err)
	}
	u.Host = addr
	return u, true, nil
}

// ID returns the member's etcd ID (as in MemberList).
func (e *Embedded) ID() uint64 { return uint64(e.etcd.Server.MemberID()) }

// Name returns the member's name.
func (e *Embedded) Name() string { return e.cfg.Name }

// PeerURLs returns the peer URLs the member advertises, with actual ports.
func (e *Embedded) PeerURLs() []string {
	var out []string
	for _, u := range e.etcd.Config().AdvertisePeerUrls {
		out = append(out, u.String())
	}
	return out
}

// Client returns a client connected to the embedded server. It is owned by the
// Embedded and closed by Close.
func (e *Embedded) Client() *clientv3.Client { return e.client }

// Endpoints returns the client URLs the server listens on, with actual ports.
func (e *Embedded) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// MaxTxnOps returns the server's --max-txn-ops, for Options.MaxTxnOps.
func (e *Embedded) MaxTxnOps() int { return int(e.cfg.MaxTxnOps) }

// MaxRequestBytes returns the server's --max-request-bytes, for Options.MaxRequestBytes.
func (e *Embedded) MaxRequestBytes() int { return int(e.cfg.MaxRequestBytes) }

// StoreOptions returns Options whose limits match the server's.
func (e *Embedded) StoreOptions() Options {
	return Options{MaxTxnOps: e.MaxTxnOps(), MaxRequestBytes: e.MaxRequestBytes()}
}

// Close closes the client and stops the server, waiting until it has
// stopped. Calling it again does nothing.
func (e *Embedded) Close() error {
	if !e.closing.CompareAndSwap(false, true) {
		return nil
	}
	err := e.client.Close()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	e.etcd.Close()
	if err != nil {
		return fmt.Errorf("store: close embedded etcd client: %w", err)
	}
	return nil
}

// Connect dials an existing etcd cluster and checks that it answers before
// returning. Its send limit is generous; the server's --max-request-bytes decides.
// Options add TLS (WithTLS); https endpoints without it verify the members
// against the system's roots.
func Connect(ctx context.Context, endpoints []string, opts ...ConnectOption) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("store: connect to etcd: %w: no endpoints", api.ErrInvalid)
	}
	cfg := clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        10 * time.Second,
		Context:            context.WithoutCancel(ctx),
		MaxCallSendMsgSize: 128 * 1024 * 1024,
		Logger:             zap.NewNop(),
	}
	for _, o := range opts {
		o(&cfg)
	}
	httpsDefault(&cfg)
	c, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect to etcd %s: %w", strings.Join(endpoints, ","), err)
	}
	if err := checkHealth(ctx, c, cfg); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
