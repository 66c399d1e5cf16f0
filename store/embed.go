package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

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
	})
	if err != nil {
		e.Close()
		return nil, false, fmt.Errorf("store: connect to embedded etcd: %w", err)
	}
	return &Embedded{etcd: e, client: c, endpoints: eps, cfg: cfg}, false, nil
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

// Close closes the client and stops the server, waiting until it has stopped.
func (e *Embedded) Close() error {
	err := e.client.Close()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	e.closing.Store(true)
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
