package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/reconcile/controlplane"
	"github.com/bosun-dev/bosun/reconcile/leader"
	"github.com/bosun-dev/bosun/reconcile/serviceip"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/sync/gitsource"
	"github.com/bosun-dev/bosun/sync/gitwrite"
	"github.com/bosun-dev/bosun/sync/syncer"
	"github.com/bosun-dev/bosun/sync/webhook"
	"github.com/bosun-dev/bosun/tokens"
)

// defaultListen is where the HTTPS API listens (kube-apiserver's port).
const defaultListen = ":6443"

// serverConfig is everything bosun server is configured with.
type serverConfig struct {
	repo, branch, path string
	interval, resync   time.Duration
	allowEmpty         bool

	dataDir         string
	listen          string
	insecureListen  string
	advertise       string
	tlsSANs         []string
	writeKubeconfig string

	etcdEndpoints       []string
	clusterInit         bool
	etcdClientURL       string
	etcdPeerURL         string
	etcdMaxTxnOps       int
	etcdMaxRequestBytes int
	etcdTLS             etcdTLSFiles

	webhookSecret     string
	webhookSecretFile string

	clusterCIDR            string
	serviceCIDR            string
	nodePortRange          string
	nodeMonitorGracePeriod time.Duration
	podEvictionTimeout     time.Duration

	profiling bool

	autoRollback     bool
	verifySignatures string

	noAgent bool
	agent   agentConfig

	gitUsername     string
	gitPasswordFile string
	sshKeyFile      string
	sshKnownHosts   string
}

func newServerCommand(g *globalOptions) *cobra.Command {
	c := &serverConfig{}
	cmd := &cobra.Command{
		Use:   "server --repo REPO",
		Short: "Run the control plane: sync a Git repository into etcd, reconcile it and serve the API",
		Long: `server syncs a branch of a Git repository of Kubernetes YAML into etcd and
serves a Kubernetes-shaped API over HTTPS on --listen.

Each new commit is decoded and validated whole. A valid commit becomes the
desired state in one etcd transaction (created, updated and pruned objects
together); a commit with any invalid manifest changes nothing, and
"bosun status" says why. A local repository is synced the moment a commit
lands; remote ones every --interval, or at once on a webhook
(POST /hooks/git).

Controllers (Deployments, ReplicaSets, ReplicationControllers, the
scheduler, Endpoints, Service addresses, node lifecycle, garbage
collection) turn the desired state into scheduled pods, and the server's
own node agent (unless --no-agent; see "bosun agent --help") runs them on
containerd. Several servers may share one etcd: all serve the API; one
at a time (elected through etcd) runs the sync loop, and one the
controllers, and every write they make is fenced by their election, so a
server that lost it (paused, cut off) can never write a stale commit.

etcd is embedded (data in --data-dir) unless --etcd-endpoints names an
existing cluster.

On first start the server creates the cluster CA and its certificates in
<data-dir>/pki and writes an admin kubeconfig (--write-kubeconfig) that
bosun and kubectl use. Every request is authenticated with a client
certificate. Other machines join as nodes with a bootstrap token:
"bosun token create" prints the command to run on them.

Examples:
  bosun server --repo ./my-repo
  bosun server --repo https://git.example.com/team/deploy.git --branch main --path prod \
      --git-password-file /etc/bosun/token --webhook-secret-file /etc/bosun/hook-secret`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkServerFlags(cmd, c); err != nil {
				return err
			}
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runServer(cmd.Context(), c, logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.repo, "repo", "", "Git repository: a local path, file://, https:// or ssh:// URL (required)")
	f.StringVar(&c.branch, "branch", "", "branch to sync (default: the repository's default branch)")
	f.StringVar(&c.path, "path", "", "subdirectory of the repository holding the manifests (default: all of it)")
	f.DurationVar(&c.interval, "interval", 30*time.Second, "how often to poll the repository for new commits")
	f.DurationVar(&c.resync, "resync", 10*time.Minute, "how often to re-apply the synced commit even when the branch did not move, repairing drift")
	f.BoolVar(&c.allowEmpty, "allow-empty", false, "let a commit without any manifests prune every object (refused otherwise)")
	f.StringVar(&c.dataDir, "data-dir", "/var/lib/bosun", "directory for the embedded etcd and Git clones")
	f.StringVar(&c.listen, "listen", defaultListen, "address of the HTTPS API")
	f.StringVar(&c.insecureListen, "insecure-listen", "", "also serve plain HTTP on this loopback address, where every request is admin's (development only)")
	f.StringVar(&c.advertise, "advertise-address", "", "address other machines reach the API at, in its certificate, the admin kubeconfig and join commands (default: the --listen address when it names one, else the node IP)")
	f.StringSliceVar(&c.tlsSANs, "tls-san", nil, "further host names or IPs for the API's certificate (repeatable)")
	f.StringVar(&c.writeKubeconfig, "write-kubeconfig", "", "where to write the admin kubeconfig, mode 0600 (default <data-dir>/kubeconfig)")
	f.StringSliceVar(&c.etcdEndpoints, "etcd-endpoints", nil, "use this existing etcd cluster instead of the embedded one (comma-separated URLs)")
	f.BoolVar(&c.clusterInit, "cluster-init", false, "start the embedded etcd as the first member of a cluster that can grow: TLS with certificates from the cluster CA (in <data-dir>/pki/etcd, kept on later starts), peer URL https://<advertise-address>:2380 and client URL https://127.0.0.1:2379 unless --etcd-peer-url/--etcd-client-url say otherwise; see \"bosun member\"")
	f.StringVar(&c.etcdClientURL, "etcd-client-url", "http://127.0.0.1:2379", "client URL of the embedded etcd")
	f.StringVar(&c.etcdPeerURL, "etcd-peer-url", "http://127.0.0.1:2380", "peer URL of the embedded etcd")
	f.IntVar(&c.etcdMaxTxnOps, "etcd-max-txn-ops", 128, "with --etcd-endpoints: the cluster's --max-txn-ops; a commit needing more operations is refused")
	f.IntVar(&c.etcdMaxRequestBytes, "etcd-max-request-bytes", 1536*1024, "with --etcd-endpoints: the cluster's --max-request-bytes; a larger commit is refused")
	addEtcdTLSFlags(f, &c.etcdTLS)
	f.StringVar(&c.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "range each node's pod CIDR (a /24) is allocated from")
	f.StringVar(&c.serviceCIDR, "service-cidr", "10.96.0.0/16", "range Service ClusterIPs are allocated from")
	f.StringVar(&c.nodePortRange, "service-node-port-range", "30000-32767", "range NodePorts are allocated from")
	f.DurationVar(&c.nodeMonitorGracePeriod, "node-monitor-grace-period", 40*time.Second, "a node whose lease is not renewed for this long becomes Ready=Unknown and is tainted")
	f.DurationVar(&c.podEvictionTimeout, "pod-eviction-timeout", 5*time.Minute, "pods of a node unreachable for this long are deleted so their controllers replace them")
	f.StringVar(&c.webhookSecret, "webhook-secret", "", "secret that POST /hooks/git requires (GitHub/Gitea signature or GitLab token; default: env BOSUN_WEBHOOK_SECRET)")
	f.StringVar(&c.webhookSecretFile, "webhook-secret-file", "", "file holding the webhook secret")
	f.BoolVar(&c.autoRollback, "auto-rollback", false, "when a rollout a commit started fails (progress deadline exceeded; new pods crash-looping, failing to pull their image or to be configured), push a revert of that commit; per Deployment: annotation bosun.dev/auto-rollback: \"true\" or \"false\"")
	f.StringVar(&c.verifySignatures, "verify-signatures", "", "armored OpenPGP public keys: only commits signed by one of them are applied")
	f.BoolVar(&c.noAgent, "no-agent", false, "run only the control plane: no pods on this machine")
	addAgentFlags(f, &c.agent)
	f.BoolVar(&c.profiling, "profiling", false, "serve Go profiles under /debug/pprof/ on the API address (unauthenticated: only on a trusted address)")
	f.StringVar(&c.gitUsername, "git-username", "", "user name for HTTPS Git (default \"git\" when a password is given)")
	f.StringVar(&c.gitPasswordFile, "git-password-file", "", "file holding the HTTPS password or access token")
	f.StringVar(&c.sshKeyFile, "ssh-key", "", "private key file for ssh:// repositories")
	f.StringVar(&c.sshKnownHosts, "ssh-known-hosts", "", "known_hosts file for ssh:// repositories (default ~/.ssh/known_hosts)")
	_ = cmd.MarkFlagRequired("repo")
	return cmd
}

// checkServerFlags refuses flags that were set but would have no effect.
func checkServerFlags(cmd *cobra.Command, c *serverConfig) error {
	useless := func(why string, names ...string) error {
		for _, n := range names {
			if cmd.Flags().Changed(n) {
				return fmt.Errorf("server: --%s has no effect %s", n, why)
			}
		}
		return nil
	}
	if c.noAgent {
		if err := useless("with --no-agent (no node agent runs)", "node-name", "node-ip", "containerd-socket", "containerd-binary",
			"cni-bin-dir", "pod-manifest-path", "no-proxy", "images-dir", "agent-port", "pod-drain-delay"); err != nil {
			return err
		}
	}
	if len(c.etcdEndpoints) > 0 && c.clusterInit {
		return errors.New("server: --cluster-init has no effect with --etcd-endpoints (no embedded etcd runs; grow an external cluster with etcd's own tools)")
	}
	if len(c.etcdEndpoints) > 0 {
		return useless("with --etcd-endpoints (no embedded etcd runs)", "etcd-client-url", "etcd-peer-url")
	}
	if err := useless("without --etcd-endpoints (the embedded etcd's limits hold a whole commit)", "etcd-max-txn-ops", "etcd-max-request-bytes"); err != nil {
		return err
	}
	return useless("without --etcd-endpoints (they are for an external etcd)", etcdTLSFlagNames()...)
}

func readSecretFile(flag, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flag, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// openStore connects to the configured etcd, starting the embedded one
// unless endpoints are given. close releases what it started.
func openStore(ctx context.Context, c *serverConfig, logger *slog.Logger) (st *store.Store, close func(), err error) {
	if len(c.etcdEndpoints) > 0 {
		opts, err := c.etcdTLS.connectOptions()
		if err != nil {
			return nil, nil, err
		}
		cli, err := store.Connect(ctx, c.etcdEndpoints, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(c.etcdEndpoints, ","), err)
		}
		st := store.New(cli, store.Options{MaxTxnOps: c.etcdMaxTxnOps, MaxRequestBytes: c.etcdMaxRequestBytes, Logger: logger})
		return st, func() { _ = cli.Close() }, nil
	}
	cfg := store.EmbedConfig{
		DataDir:   filepath.Join(c.dataDir, "etcd"),
		ClientURL: c.etcdClientURL,
		PeerURL:   c.etcdPeerURL,
		Logger:    logger,
	}
	// A member of a cluster that can grow speaks TLS (member.go).
	renewEtcdCerts := func(context.Context) error { return nil }
	if clustered, err := clusteredEtcd(c); err != nil {
		return nil, nil, err
	} else if clustered {
		if renewEtcdCerts, err = clusterEtcd(c, &cfg, logger); err != nil {
			return nil, nil, fmt.Errorf("embedded etcd: %w", err)
		}
	}
	emb, err := store.StartEmbedded(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.DataDir, err)
	}
	renewCtx, stopRenewing := context.WithCancel(ctx)
	go func() {
		if err := renewEtcdCerts(renewCtx); err != nil {
			logger.Error("renewing the embedded etcd's certificates stopped", "err", err)
		}
	}()
	// The embedded etcd's limits hold a commit of 10,000 objects in one
	// transaction.
	opts := emb.StoreOptions()
	opts.Logger = logger
	logger.Info("embedded etcd ready", "data_dir", cfg.DataDir, "endpoints", strings.Join(emb.Endpoints(), ","), "member", emb.Name(), "tls", cfg.TLS != nil)
	return store.New(emb.Client(), opts), func() { stopRenewing(); _ = emb.Close() }, nil
}

func runServer(ctx context.Context, c *serverConfig, logger *slog.Logger) error {
	if c.repo == "" {
		return errors.New("server: --repo is required")
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("server: --data-dir: %w", err)
	}
	secret := c.webhookSecret
	if secret == "" {
		secret = os.Getenv("BOSUN_WEBHOOK_SECRET")
	}
	if s, err := readSecretFile("--webhook-secret-file", c.webhookSecretFile); err != nil {
		return err
	} else if s != "" {
		secret = s
	}
	password, err := readSecretFile("--git-password-file", c.gitPasswordFile)
	if err != nil {
		return err
	}

	if fi, err := os.Stat(c.repo); err == nil && fi.IsDir() {
		// A local repository: record it absolute, so that commands run from
		// elsewhere (bosun rollback, scale) find it through the status.
		if abs, err := filepath.Abs(c.repo); err == nil {
			c.repo = abs
		}
	}
	var keyring openpgp.EntityList
	if c.verifySignatures != "" {
		if keyring, err = gitsource.LoadKeyring(c.verifySignatures); err != nil {
			return fmt.Errorf("server: --verify-signatures: %w", err)
		}
	}
	gitAuth := gitsource.Auth{
		Username:          c.gitUsername,
		Password:          password,
		SSHKeyFile:        c.sshKeyFile,
		SSHKnownHostsFile: c.sshKnownHosts,
	}
	src, err := gitsource.New(gitsource.Config{
		URL:      c.repo,
		Branch:   c.branch,
		CacheDir: filepath.Join(c.dataDir, "git"),
		Auth:     gitAuth,
		Logger:   logger.With("component", "git"),
	})
	if err != nil {
		return fmt.Errorf("server: --repo: %w", err)
	}

	_, clusterCIDR, err := net.ParseCIDR(c.clusterCIDR)
	if err != nil {
		return fmt.Errorf("server: --cluster-cidr: %w", err)
	}

	_, serviceCIDR, err := net.ParseCIDR(c.serviceCIDR)
	if err != nil {
		return fmt.Errorf("server: --service-cidr: %w", err)
	}
	nodePorts, err := serviceip.ParsePortRange(c.nodePortRange)
	if err != nil {
		return fmt.Errorf("server: --service-node-port-range: %w", err)
	}

	certs, err := serverTLS(c, logger.With("component", "pki"))
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}

	st, closeStore, err := openStore(ctx, c, logger.With("component", "store"))
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	defer closeStore()

	sy := syncer.New(syncer.Config{
		Source:           src,
		Store:            st,
		Repo:             c.repo,
		Branch:           c.branch,
		Path:             c.path,
		Interval:         c.interval,
		Resync:           c.resync,
		AllowEmpty:       c.allowEmpty,
		VerifySignatures: keyring,
		Logger:           logger.With("component", "sync"),
	})
	// Automatic rollback writes revert commits to the synced branch.
	writer, err := gitwrite.New(gitwrite.Config{
		URL:     c.repo,
		Branch:  c.branch,
		Auth:    gitAuth,
		WorkDir: filepath.Join(c.dataDir, "git-write"),
		Logger:  logger.With("component", "git-write"),
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	bootstrapTokens := tokens.New(st.Client(), nil)
	apiSrv := apiserver.New(apiserver.Config{
		Store:           st,
		Logger:          logger.With("component", "api"),
		Hooks:           webhook.Handler(secret, sy.Trigger, logger.With("component", "webhook")),
		Ready:           sy.Ready,
		Version:         version,
		Profiling:       c.profiling,
		Signer:          certs.signer,
		Tokens:          bootstrapTokens,
		GetCertificate:  certs.pki.Serving.GetCertificate,
		ServerURL:       certs.url,
		AgentTransport:  certs.agentTransport(),
		NodeGracePeriod: c.nodeMonitorGracePeriod,
	})
	compactor := &store.Compactor{Client: st.Client(), Logger: logger.With("component", "compactor")}

	g, ctx := errgroup.WithContext(ctx)
	// One server at a time syncs, every write fenced by its term of the
	// election (DESIGN.md decision 9); the others serve the API and wait.
	g.Go(func() error {
		return leader.RunFenced(ctx, st.Client(), syncer.ElectionName, leader.DefaultID(), leader.DefaultTTL, logger.With("component", "sync"), sy.RunFenced)
	})
	g.Go(func() error {
		return apiSrv.RunTLS(ctx, c.listen, func(addr net.Addr) { logger.Info("API listening", "addr", "https://"+addr.String()) })
	})
	if c.insecureListen != "" {
		g.Go(func() error {
			return apiSrv.Run(ctx, c.insecureListen, func(addr net.Addr) {
				logger.Warn("plain-HTTP development API listening: every request on it is admin's", "addr", "http://"+addr.String())
			})
		})
	}
	g.Go(func() error { return certs.pki.Run(ctx) })
	g.Go(func() error {
		return bootstrapTokens.Run(ctx, time.Minute, time.Hour, func(err error) {
			logger.Warn("removing expired bootstrap tokens failed; retrying", "err", err)
		})
	})
	// Compaction and defragmentation need one runner per etcd, not one per
	// server sharing it: the elected one.
	g.Go(func() error {
		return leader.Run(ctx, st.Client(), "compactor", leader.DefaultID(), leader.DefaultTTL, logger.With("component", "compactor"), compactor.Run)
	})
	g.Go(func() error {
		return controlplane.Run(ctx, controlplane.Config{
			Store:                  st,
			ClusterCIDR:            clusterCIDR,
			ServiceCIDR:            serviceCIDR,
			NodePortRange:          nodePorts,
			AutoRollback:           c.autoRollback,
			Reverter:               gitwrite.BranchReverter{Writer: writer},
			OnRevert:               func(string) { sy.Trigger() },
			NodeMonitorGracePeriod: c.nodeMonitorGracePeriod,
			PodEvictionTimeout:     c.podEvictionTimeout,
			Logger:                 logger.With("component", "controllers"),
		})
	})
	if !c.noAgent {
		a := c.agent
		a.dataDir, a.clusterCIDR = c.dataDir, c.clusterCIDR
		// The server's own agent talks to the API like any other, with a
		// node credential the CA issues it here.
		if err := issueNodeCredential(certs.pki.CA, a.pkiDir(), a.nodeName, certs.localURL, []net.IP{certs.nodeIP}); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		g.Go(func() error { return runAgent(ctx, &a, certs.localURL, logger.With("component", "agent")) })
	}
	if src.Local() {
		g.Go(func() error { return src.Watch(ctx, sy.Trigger) })
	}
	logger.Info("bosun server started", "repo", c.repo, "api", certs.url, "kubeconfig", certs.kubeconfig)
	err = g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("server: %w", err)
	}
	logger.Info("bosun server stopped")
	return nil
}
