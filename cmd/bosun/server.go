package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/audit"
	"github.com/bosun-dev/bosun/events"
	"github.com/bosun-dev/bosun/internal/sdnotify"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/metrics"
	"github.com/bosun-dev/bosun/podsecurity"
	"github.com/bosun-dev/bosun/reconcile/controlplane"
	"github.com/bosun-dev/bosun/reconcile/hpa"
	"github.com/bosun-dev/bosun/reconcile/leader"
	"github.com/bosun-dev/bosun/reconcile/serviceip"
	"github.com/bosun-dev/bosun/servers"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/sync/apiwrites"
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
	eventTTL           time.Duration
	allowEmpty         bool

	dataDir         string
	listen          string
	insecureListen  string
	advertise       string
	tlsSANs         []string
	writeKubeconfig string

	etcdEndpoints       []string
	clusterInit         bool
	join                joinFlags
	etcdName            string
	etcdClientURL       string
	etcdPeerURL         string
	etcdMaxTxnOps       int
	etcdMaxRequestBytes int
	etcdQuotaBytes      int64
	gitTimeout          time.Duration
	etcdTLS             etcdTLSFiles

	webhookSecret     string
	webhookSecretFile string
	webhookRate       float64
	webhookBurst      int
	noWebhook         bool

	clusterCIDR            string
	serviceCIDR            string
	nodePortRange          string
	nodeMonitorGracePeriod time.Duration
	podEvictionTimeout     time.Duration
	// hpaSyncPeriod is how often each HorizontalPodAutoscaler is evaluated
	// (hpa.Config.SyncPeriod).
	hpaSyncPeriod time.Duration

	profiling bool
	// API request limits (apiserver.Config).
	maxRequestsInFlight, maxMutatingInFlight, maxWatchesPerClient int

	auditLog       string
	auditMaxSize   int
	auditMaxBackup int

	// explicit tells the cluster-setting flags (clusterSettingFlags) given
	// on the command line from those left at their defaults.
	explicit map[string]bool

	// podSecurityDefault is the Pod Security level (podsecurity.New's
	// argument) for namespaces without pod-security.kubernetes.io labels,
	// checked at start; the syncer and the API server check pods with it.
	podSecurityDefault string

	autoRollback     bool
	apiWrites        string
	syncPolicy       string
	freezeBlocksRB   bool
	allowRewrite     bool
	createNamespaces bool
	render           renderFlags
	verifySignatures string

	noAgent bool
	agent   agentConfig

	gitUsername     string
	gitPasswordFile string
	sshKeyFile      string
	sshKnownHosts   string

	secretsKeyFile string
	secretsRewrite bool
	// secrets encrypts Secrets in etcd; loaded from secretsKeyFile, nil without one.
	secrets store.ValueTransformer
}

func newServerCommand(g *globalOptions) *cobra.Command {
	c := &serverConfig{}
	cmd := &cobra.Command{
		Use:   "server --repo REPO | --join URL --token ID.SECRET --ca-cert-hash sha256:HEX",
		Short: "Run the control plane: sync a Git repository into etcd, reconcile it and serve the API",
		Long: `server syncs a branch of a Git repository of Kubernetes YAML into etcd and
serves a Kubernetes-shaped API over HTTPS on --listen.

Each new commit is decoded and validated whole. A valid commit becomes the
desired state in one etcd transaction (created, updated and pruned objects
together); a commit with any invalid manifest changes nothing, and
"bosun status" says why. A local repository is synced the moment a commit
lands; remote ones every --interval, or at once on a webhook
(POST /hooks/git, rate limited by --webhook-rate and --webhook-burst).
A webhook without a secret (--webhook-secret, --webhook-secret-file or
BOSUN_WEBHOOK_SECRET) is served only on a loopback --listen: on any other
address the server refuses to start unless given one or --no-webhook.

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

Growing the control plane (three servers survive the loss of one): start
the first server with --cluster-init (its etcd speaks TLS and can take
members), make a server token on it with "bosun token create --control-plane",
and run the command it prints on each new machine:

  bosun server --join https://ADDR:6443 --token ID.SECRET --ca-cert-hash sha256:HEX --repo REPO

The new server checks the first one's CA against --ca-cert-hash, receives
the cluster CA (certificate and key, into <data-dir>/pki), issues its own
certificates, joins etcd as a learner and promotes itself to a voter once
it has caught up (within 2 minutes), then serves like any other. Every
server shares the cluster's settings (--repo, --branch, --path,
--cluster-cidr, --service-cidr, --service-node-port-range), which the
first server stored in etcd: a server adopts the flags it is not given
and refuses to start when one given differs. --join is read only while
<data-dir>/etcd holds no member: later starts ignore it. Grow one at a time
(etcd takes one learner at a time), to an odd number of servers.

Examples:
  bosun server --repo ./my-repo --no-webhook
  bosun server --repo https://git.example.com/team/deploy.git --branch main --path prod \
      --git-password-file /etc/bosun/token --webhook-secret-file /etc/bosun/hook-secret
  bosun server --cluster-init --repo https://git.example.com/team/deploy.git \
      --webhook-secret-file /etc/bosun/hook-secret                                # first of three
  bosun server --join https://10.0.0.1:6443 --token k3x9q2.7f0a1b2c3d4e5f60 \
      --ca-cert-hash sha256:… --repo https://git.example.com/team/deploy.git       # the others`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkServerFlags(cmd, c); err != nil {
				return err
			}
			if err := checkPodSecurityDefault(c.podSecurityDefault); err != nil {
				return err
			}
			if c.join.token == "" {
				c.join.token = os.Getenv("BOSUN_TOKEN")
			}
			c.explicit = map[string]bool{}
			for _, n := range clusterSettingFlags {
				c.explicit[n] = cmd.Flags().Changed(n)
			}
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer notifyStopping(cmd.Context(), logger)()
			return runServer(cmd.Context(), c, logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.repo, "repo", "", "Git repository: a local path, file://, https:// or ssh:// URL (required on a cluster's first server; servers that join adopt the cluster's)")
	f.StringVar(&c.branch, "branch", "", "branch to sync (default: the repository's default branch)")
	f.StringVar(&c.path, "path", "", "subdirectory of the repository holding the manifests (default: all of it)")
	f.DurationVar(&c.interval, "interval", 30*time.Second, "how often to poll the repository for new commits")
	f.DurationVar(&c.gitTimeout, "git-timeout", gitsource.DefaultTimeout, "deadline of one Git network operation (a fetch or a listing of the remote's branches); a remote that does not answer in time fails the sync attempt")
	f.DurationVar(&c.resync, "resync", 10*time.Minute, "how often to re-apply the synced commit even when the branch did not move, repairing drift")
	f.DurationVar(&c.eventTTL, "event-ttl", store.DefaultEventTTL, "how long an Event is kept after its last update (etcd deletes it through a lease), as kube-apiserver's --event-ttl")
	f.BoolVar(&c.allowEmpty, "allow-empty", false, "let a commit without any manifests prune every object (refused otherwise)")
	f.StringVar(&c.dataDir, "data-dir", "/var/lib/bosun", "directory for the embedded etcd and Git clones")
	f.StringVar(&c.listen, "listen", defaultListen, "address of the HTTPS API")
	f.StringVar(&c.insecureListen, "insecure-listen", "", "also serve plain HTTP on this loopback address, where every request is admin's (development only)")
	f.StringVar(&c.advertise, "advertise-address", "", "address other machines reach the API at, in its certificate, the admin kubeconfig and join commands (default: the --listen address when it names one, else the node IP)")
	f.StringSliceVar(&c.tlsSANs, "tls-san", nil, "further host names or IPs for the API's certificate (repeatable)")
	f.StringVar(&c.writeKubeconfig, "write-kubeconfig", "", "where to write the admin kubeconfig, mode 0600 (default <data-dir>/kubeconfig)")
	f.StringSliceVar(&c.etcdEndpoints, "etcd-endpoints", nil, "use this existing etcd cluster instead of the embedded one (comma-separated URLs)")
	addJoinFlags(f, c)
	f.BoolVar(&c.clusterInit, "cluster-init", false, "start the embedded etcd as the first member of a cluster that can grow: TLS with certificates from the cluster CA (in <data-dir>/pki/etcd, kept on later starts), peer URL https://<advertise-address>:2380 and client URL https://127.0.0.1:2379 unless --etcd-peer-url/--etcd-client-url say otherwise; see \"bosun member\"")
	f.StringVar(&c.etcdClientURL, "etcd-client-url", "http://127.0.0.1:2379", "client URL of the embedded etcd")
	f.StringVar(&c.etcdPeerURL, "etcd-peer-url", "http://127.0.0.1:2380", "peer URL of the embedded etcd")
	f.IntVar(&c.etcdMaxTxnOps, "etcd-max-txn-ops", 128, "with --etcd-endpoints: the cluster's --max-txn-ops; a commit needing more operations is refused")
	f.IntVar(&c.etcdMaxRequestBytes, "etcd-max-request-bytes", 1536*1024, "with --etcd-endpoints: the cluster's --max-request-bytes; a larger commit is refused")
	f.Int64Var(&c.etcdQuotaBytes, "etcd-quota-backend-bytes", store.DefaultQuotaBackendBytes, "size limit of the embedded etcd's database, as etcd's --quota-backend-bytes; beyond it etcd raises the NOSPACE alarm and refuses writes")
	addEtcdTLSFlags(f, &c.etcdTLS)
	f.StringVar(&c.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "range each node's pod CIDR (a /24) is allocated from")
	f.StringVar(&c.serviceCIDR, "service-cidr", "10.96.0.0/16", "range Service ClusterIPs are allocated from")
	f.StringVar(&c.nodePortRange, "service-node-port-range", "30000-32767", "range NodePorts are allocated from")
	f.DurationVar(&c.nodeMonitorGracePeriod, "node-monitor-grace-period", 40*time.Second, "a node whose lease is not renewed for this long becomes Ready=Unknown and is tainted")
	f.DurationVar(&c.podEvictionTimeout, "pod-eviction-timeout", 5*time.Minute, "pods of a node unreachable for this long are deleted so their controllers replace them")
	f.DurationVar(&c.hpaSyncPeriod, "horizontal-pod-autoscaler-sync-period", hpa.DefaultSyncPeriod, "how often each HorizontalPodAutoscaler reads its target's pod metrics and rescales it, as kube-controller-manager's flag of the same name")
	f.StringVar(&c.webhookSecret, "webhook-secret", "", "secret that POST /hooks/git requires (GitHub/Gitea signature or GitLab token; default: env BOSUN_WEBHOOK_SECRET)")
	f.StringVar(&c.webhookSecretFile, "webhook-secret-file", "", "file holding the webhook secret")
	f.Float64Var(&c.webhookRate, "webhook-rate", float64(webhook.DefaultRate), "requests per second POST /hooks/git accepts on average; beyond it and --webhook-burst, 429 with Retry-After")
	f.IntVar(&c.webhookBurst, "webhook-burst", webhook.DefaultBurst, "requests POST /hooks/git accepts at once before --webhook-rate applies")
	f.BoolVar(&c.noWebhook, "no-webhook", false, "serve no POST /hooks/git (a webhook without a secret is allowed only when --listen is a loopback address)")
	f.StringVar(&c.syncPolicy, "sync-policy", "auto", "auto: apply every valid commit at once; manual: validate and diff commits on arrival, apply only on `bosun sync`")
	f.BoolVar(&c.allowRewrite, "allow-history-rewrite", false, "apply a branch head that does not descend from the synced commit (a force-push) like any commit; by default it is refused until bosun accept-rewrite")
	c.render.addFlags(f, true)
	f.BoolVar(&c.createNamespaces, "create-namespaces", false, "create the namespaces a commit's objects use that neither the commit nor the cluster has (as Argo CD's CreateNamespace), as Namespaces Git does not manage, so pruning never deletes them; by default such a commit is rejected")
	f.BoolVar(&c.freezeBlocksRB, "freeze-blocks-rollback", false, "hold rollbacks (reverts of the synced commit) during a freeze too; by default they are applied")
	f.StringVar(&c.apiWrites, "api-writes", "refuse", "what the API does with a write of an object from Git: refuse (403 naming the file to change), or commit: kubectl scale, set image, and edits, applies and rollbacks that change only replicas or container images become a commit of the object's file, authored by the API user, answered once synced")
	f.BoolVar(&c.autoRollback, "auto-rollback", false, "when a rollout a commit started fails (progress deadline exceeded; new pods crash-looping, failing to pull their image or to be configured), push a revert of that commit; per Deployment: annotation bosun.dev/auto-rollback: \"true\" or \"false\"")
	f.StringVar(&c.secretsKeyFile, "secrets-encryption-key-file", "", "Kubernetes EncryptionConfiguration (providers aesgcm, secretbox, identity for secrets): Secrets are encrypted in etcd with its first key and read with any key it lists; see README \"Secrets encrypted at rest\"")
	f.BoolVar(&c.secretsRewrite, "secrets-encryption-rewrite", false, "at start, write again with the key file's first key every Secret stored in plaintext or with another key (rotation: after making a new key first, before removing the old one); idempotent")
	f.StringVar(&c.verifySignatures, "verify-signatures", "", "trusted signing keys, a comma-separated list of files or directories holding armored OpenPGP public keys (gpg --armor --export) or OpenSSH allowed_signers files (for commits signed with git's gpg.format ssh): only commits signed by one of them are applied")
	f.StringVar(&c.podSecurityDefault, "pod-security-default", podsecurity.DefaultLevel, "Pod Security Standards level (privileged, baseline or restricted) enforced, warned and audited for pods in namespaces without pod-security.kubernetes.io/enforce, warn or audit labels; a namespace opts in to more with those labels")
	f.BoolVar(&c.noAgent, "no-agent", false, "run only the control plane: no pods on this machine")
	addAgentFlags(f, &c.agent)
	f.StringVar(&c.auditLog, "audit-log", "", "write the audit log here (JSON lines in Kubernetes' audit.k8s.io/v1 Event format: every API write and refusal, sync, rollback and control change; created mode 0600; \"-\" for standard output); none by default")
	f.IntVar(&c.auditMaxSize, "audit-log-maxsize", 100, "rotate the audit log before it grows past this many megabytes (0: never rotate)")
	f.IntVar(&c.auditMaxBackup, "audit-log-maxbackup", 5, "how many rotated audit logs (PATH.1 newest ... PATH.N) to keep (0: keep all)")
	f.IntVar(&c.maxRequestsInFlight, "max-requests-inflight", apiserver.DefaultMaxRequestsInFlight, "read-only API requests served at once (watches, followed logs, exec and port-forward not counted); beyond it 429 with Retry-After")
	f.IntVar(&c.maxMutatingInFlight, "max-mutating-requests-inflight", apiserver.DefaultMaxMutatingRequestsInFlight, "mutating API requests served at once; beyond it 429 with Retry-After")
	f.IntVar(&c.maxWatchesPerClient, "max-watches-per-client", apiserver.DefaultMaxWatchesPerClient, "watches one identity may hold open at once; beyond it 429 with Retry-After")
	f.BoolVar(&c.profiling, "profiling", false, "serve Go profiles under /debug/pprof/ on the API address (unauthenticated: only on a trusted address)")
	f.StringVar(&c.gitUsername, "git-username", "", "user name for HTTPS Git (default \"git\" when a password is given)")
	f.StringVar(&c.gitPasswordFile, "git-password-file", "", "file holding the HTTPS password or access token")
	f.StringVar(&c.sshKeyFile, "ssh-key", "", "private key file for ssh:// repositories")
	f.StringVar(&c.sshKnownHosts, "ssh-known-hosts", "", "known_hosts file for ssh:// repositories (default ~/.ssh/known_hosts)")
	return withConfigFile(cmd, g, func() *pflag.FlagSet { return newAgentCommand(g).Flags() })
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
			"cni-bin-dir", "pod-manifest-path", "no-proxy", "proxy-mode", "images-dir", "agent-port",
			"cluster-domain", "cluster-dns", "resolv-conf", "dns-upstream", "no-dns"); err != nil {
			return err
		}
	}
	if err := checkJoinFlags(cmd, c); err != nil {
		return err
	}
	if c.auditLog == "" {
		if err := useless("without --audit-log", "audit-log-maxsize", "audit-log-maxbackup"); err != nil {
			return err
		}
	}
	if err := checkWebhookFlags(cmd, c); err != nil {
		return err
	}
	switch c.syncPolicy {
	case "", "auto", "manual":
	default:
		return fmt.Errorf("server: --sync-policy=%q: want auto or manual", c.syncPolicy)
	}
	switch c.apiWrites {
	case "", "refuse", "commit":
	default:
		return fmt.Errorf("server: --api-writes=%q: want refuse or commit", c.apiWrites)
	}
	if c.secretsRewrite && c.secretsKeyFile == "" {
		return errors.New("server: --secrets-encryption-rewrite has no effect without --secrets-encryption-key-file")
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

// checkPodSecurityDefault refuses a --pod-security-default that is not a
// Pod Security level.
func checkPodSecurityDefault(level string) error {
	if _, err := podsecurity.New(level); err != nil {
		return fmt.Errorf("server: --pod-security-default: %w", err)
	}
	return nil
}

// checkWebhookFlags refuses a webhook rate limit that admits nothing and
// webhook flags given with --no-webhook.
func checkWebhookFlags(cmd *cobra.Command, c *serverConfig) error {
	if c.noWebhook {
		for _, n := range []string{"webhook-secret", "webhook-secret-file", "webhook-rate", "webhook-burst"} {
			if cmd.Flags().Changed(n) {
				return fmt.Errorf("server: --%s has no effect with --no-webhook (no webhook is served)", n)
			}
		}
		return nil
	}
	// The defaults are valid: only values given are checked.
	if cmd.Flags().Changed("webhook-rate") && !(c.webhookRate > 0) {
		return fmt.Errorf("server: --webhook-rate=%v: want a number of requests per second above 0", c.webhookRate)
	}
	if cmd.Flags().Changed("webhook-burst") && c.webhookBurst < 1 {
		return fmt.Errorf("server: --webhook-burst=%d: want at least 1", c.webhookBurst)
	}
	return nil
}

// checkWebhookListeners says when a webhook without a secret is served on
// a listener that is not a loopback address (the API's listeners all
// serve it): the webhook then refuses requests that arrive on other
// addresses than loopback ones.
func checkWebhookListeners(c *serverConfig, secret string) error {
	if c.noWebhook {
		return nil
	}
	for _, l := range []struct{ flag, addr string }{{"--listen", c.listen}, {"--insecure-listen", c.insecureListen}} {
		if l.addr == "" {
			continue
		}
		if err := webhook.CheckListener(secret, l.addr); err != nil {
			return fmt.Errorf("server: %s: %w; give the webhook a secret with --webhook-secret, --webhook-secret-file or BOSUN_WEBHOOK_SECRET, listen on a loopback address only (--listen 127.0.0.1:PORT), or serve no webhook with --no-webhook", l.flag, err)
		}
	}
	return nil
}

// webhookHandler is the handler of POST /hooks/git, or nil with
// --no-webhook.
func webhookHandler(c *serverConfig, secret string, trigger func(), logger *slog.Logger) http.Handler {
	if c.noWebhook {
		return nil
	}
	return webhook.New(webhook.Config{
		Secret:  secret,
		Trigger: trigger,
		Rate:    rate.Limit(c.webhookRate),
		Burst:   c.webhookBurst,
		Logger:  logger,
	})
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
// unless endpoints are given: with joined (the answer of a control-plane
// join), as a new member of that cluster. An embedded member that is a
// learner is promoted before openStore returns. close releases what it
// started.
func openStore(ctx context.Context, c *serverConfig, joined *api.ServerJoinResponse, logger *slog.Logger) (st *store.Store, close func(), err error) {
	if len(c.etcdEndpoints) > 0 {
		opts, err := c.etcdTLS.connectOptions()
		if err != nil {
			return nil, nil, err
		}
		cli, err := store.Connect(ctx, c.etcdEndpoints, opts...)
		if err != nil {
			return nil, nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(c.etcdEndpoints, ","), err)
		}
		st := store.New(cli, store.Options{MaxTxnOps: c.etcdMaxTxnOps, MaxRequestBytes: c.etcdMaxRequestBytes, Logger: logger, EventTTL: c.eventTTL, Secrets: c.secrets})
		return st, func() { _ = cli.Close() }, nil
	}
	cfg := store.EmbedConfig{
		DataDir:   filepath.Join(c.dataDir, "etcd"),
		ClientURL: c.etcdClientURL,
		PeerURL:   c.etcdPeerURL,
		Logger:    logger,

		QuotaBackendBytes: c.etcdQuotaBytes,
	}
	// A member of a cluster that can grow speaks TLS (member.go).
	renewEtcdCerts := func(context.Context) error { return nil }
	if clustered, err := clusteredEtcd(c); err != nil {
		return nil, nil, err
	} else if clustered {
		if renewEtcdCerts, err = clusterEtcd(c, &cfg, logger); err != nil {
			return nil, nil, fmt.Errorf("embedded etcd: %w", err)
		}
	} else {
		// A lone member for good: elected at once after a restart.
		cfg.TickMs, cfg.ElectionMs = store.SingleMemberTickMs, store.SingleMemberElectionMs
	}
	if joined != nil {
		cfg.InitialCluster, cfg.ClusterState = joined.InitialCluster, store.ClusterStateExisting
	}
	emb, err := store.StartEmbedded(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.DataDir, err)
	}
	if err := promoteSelf(ctx, emb, logger); err != nil {
		_ = emb.Close()
		return nil, nil, fmt.Errorf("embedded etcd: %w", err)
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
	opts.EventTTL = c.eventTTL
	opts.Secrets = c.secrets
	logger.Info("embedded etcd ready", "data_dir", cfg.DataDir, "endpoints", strings.Join(emb.Endpoints(), ","), "member", emb.Name(), "tls", cfg.TLS != nil)
	return store.New(emb.Client(), opts), func() { stopRenewing(); _ = emb.Close() }, nil
}

// networkSettings parses the cluster's pod and Service ranges and its
// NodePort range.
func networkSettings(c *serverConfig) (clusterCIDR, serviceCIDR *net.IPNet, nodePorts serviceip.PortRange, err error) {
	if _, clusterCIDR, err = net.ParseCIDR(c.clusterCIDR); err != nil {
		return nil, nil, nodePorts, fmt.Errorf("--cluster-cidr: %w", err)
	}
	if _, serviceCIDR, err = net.ParseCIDR(c.serviceCIDR); err != nil {
		return nil, nil, nodePorts, fmt.Errorf("--service-cidr: %w", err)
	}
	if nodePorts, err = serviceip.ParsePortRange(c.nodePortRange); err != nil {
		return nil, nil, nodePorts, fmt.Errorf("--service-node-port-range: %w", err)
	}
	return clusterCIDR, serviceCIDR, nodePorts, nil
}

// ipNetPrefix converts a parsed CIDR to a netip.Prefix.
func ipNetPrefix(n *net.IPNet) netip.Prefix {
	addr, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(addr.Unmap(), ones)
}

func runServer(ctx context.Context, c *serverConfig, logger *slog.Logger) error {
	if c.repo == "" && c.join.url == "" && len(c.etcdEndpoints) == 0 && !store.MemberDataExists(etcdDataDir(c.dataDir)) {
		return errors.New("server: --repo is required: the first server of a cluster names the Git repository (servers that join with --join adopt it)")
	}
	// The flags' values are checked before they may become the cluster's.
	if _, _, _, err := networkSettings(c); err != nil {
		return fmt.Errorf("server: %w", err)
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
	if err := checkWebhookListeners(c, secret); err != nil {
		logger.Warn("the webhook has no secret: it takes pushes arriving on loopback addresses only, and refuses the others (403)", "why", err)
	}
	password, err := readSecretFile("--git-password-file", c.gitPasswordFile)
	if err != nil {
		return err
	}

	if fi, err := os.Stat(c.repo); c.repo != "" && err == nil && fi.IsDir() {
		// A local repository: record it absolute, so that commands run from
		// elsewhere (bosun rollback, scale) find it through the status.
		if abs, err := filepath.Abs(c.repo); err == nil {
			c.repo = abs
		}
	}
	var keyring *gitsource.Keyring
	if c.verifySignatures != "" {
		if keyring, err = gitsource.LoadKeys(c.verifySignatures); err != nil {
			return fmt.Errorf("server: --verify-signatures: %w", err)
		}
	}
	if c.secrets, err = loadSecretsEncryption(c.secretsKeyFile, logger); err != nil {
		return fmt.Errorf("server: --secrets-encryption-key-file: %w", err)
	}
	explicit := func(flag string) bool { return c.explicit[flag] }

	// Joining comes first: it installs the cluster CA the certificates
	// below are issued from.
	joined, err := joinControlPlane(ctx, c, logger.With("component", "join"))
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if joined != nil {
		if err := adoptClusterSettings(c, joined.Cluster, explicit); err != nil {
			return fmt.Errorf("server: %w; this server's etcd member was added to the cluster already: start again with the cluster's value "+
				"(the join is retried with the same member), or remove it with \"bosun member remove %s\" on another server", err, etcdMemberName(c))
		}
	}

	certs, err := serverTLS(c, logger.With("component", "pki"))
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}

	auditLog, err := openAuditLog(c, logger.With("component", "audit"))
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	// Closed last: what the server's parts logged is flushed once they stopped.
	defer func() {
		if err := auditLog.Close(); err != nil {
			logger.Error("could not flush the audit log", "err", err)
		}
	}()

	st, closeStore, err := openStore(ctx, c, joined, logger.With("component", "store"))
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	defer closeStore()
	if _, err := store.EnsureFormat(ctx, st.Client(), logger.With("component", "store")); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if c.secretsRewrite {
		if err := rewriteSecrets(ctx, st, logger.With("component", "store")); err != nil {
			return fmt.Errorf("server: --secrets-encryption-rewrite: %w", err)
		}
	}
	if err := clusterSettings(ctx, st.Client(), c, explicit, logger); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	clusterCIDR, serviceCIDR, nodePorts, err := networkSettings(c)
	if err != nil {
		return fmt.Errorf("server: the cluster's settings: %w", err)
	}
	clustered, err := clusteredEtcd(c)
	if err != nil {
		return fmt.Errorf("server: %w", err)
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
		Timeout:  c.gitTimeout,
		Logger:   logger.With("component", "git"),
	})
	if err != nil {
		return fmt.Errorf("server: --repo: %w", err)
	}

	podSecurity, err := podsecurity.New(cmp.Or(c.podSecurityDefault, podsecurity.DefaultLevel))
	if err != nil {
		return fmt.Errorf("server: --pod-security-default: %w", err)
	}
	rend, err := c.render.renderers(filepath.Join(c.dataDir, "helm-cache"), false)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	reg := metrics.NewRegistry()
	syncEvents := events.New(events.Config{Sink: st, Component: "bosun-sync", Logger: logger.With("component", "sync")})
	sy := syncer.New(syncer.Config{
		Source:                  src,
		Store:                   st,
		Repo:                    c.repo,
		Branch:                  c.branch,
		Path:                    c.path,
		Interval:                c.interval,
		Resync:                  c.resync,
		AllowEmpty:              c.allowEmpty,
		VerifySignatures:        keyring,
		Logger:                  logger.With("component", "sync"),
		Recorder:                syncEvents,
		Metrics:                 reg,
		Manual:                  c.syncPolicy == "manual",
		FreezeBlocksRollback:    c.freezeBlocksRB,
		AllowHistoryRewrite:     c.allowRewrite,
		ServiceCIDRs:            []netip.Prefix{ipNetPrefix(serviceCIDR)},
		CreateNamespaces:        c.createNamespaces,
		PodSecurity:             podSecurity,
		Audit:                   auditLog,
		Renderers:               []manifests.Renderer{rend.kustomize, rend.helm},
		Decrypter:               rend.decrypter,
		RequireEncryptedSecrets: c.render.requireEncrypted,
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
	// A webhook or a revert may reach any server; the sync leader hears
	// of it through etcd.
	name := serverName(c)
	triggerSync := syncer.RemoteTrigger(st.Client(), name, logger.With("component", "sync"))
	var gitWrites apiserver.GitWrites
	if c.apiWrites == "commit" {
		gitWrites = &apiwrites.Committer{Writer: writer, Status: st, Trigger: triggerSync, Editors: rend.editor}
	}
	apiEvents := events.New(events.Config{Sink: st, Component: "bosun-apiserver", Logger: logger.With("component", "api")})
	// /readyz's "controllers": this server runs (or campaigns to run) them.
	var controllers apiserver.Component
	apiSrv := apiserver.New(apiserver.Config{
		Store:                       st,
		Logger:                      logger.With("component", "api"),
		Hooks:                       webhookHandler(c, secret, triggerSync, logger.With("component", "webhook")),
		Audit:                       auditLog,
		PodSecurity:                 podSecurity,
		ServiceCIDR:                 serviceCIDR.String(),
		Ready:                       sy.Ready,
		ReadyChecks:                 []apiserver.HealthCheck{{Name: "controllers", Check: controllers.Check}},
		Version:                     version,
		Profiling:                   c.profiling,
		MaxRequestsInFlight:         c.maxRequestsInFlight,
		MaxMutatingRequestsInFlight: c.maxMutatingInFlight,
		MaxWatchesPerClient:         c.maxWatchesPerClient,
		Metrics:                     reg,
		MetricsHandler:              metrics.Handler(reg),
		Recorder:                    apiEvents,
		GitWrites:                   gitWrites,
		TriggerSync:                 triggerSync,
		BranchHead:                  src.Head,
		SyncPolicy:                  policyShown(c.syncPolicy),
		Signer:                      certs.signer,
		Tokens:                      bootstrapTokens,
		GetCertificate:              certs.pki.Serving.GetCertificate,
		ServerURL:                   certs.url,
		AgentTransport:              certs.agentTransport(),
		NodeGracePeriod:             c.nodeMonitorGracePeriod,
		ControlPlane:                newControlPlaneCA(c, certs.pki.CA, clustered),
		Servers: func(ctx context.Context) ([]api.ServerInfo, error) {
			return servers.List(ctx, st.Client())
		},
	})
	compactor := &store.Compactor{Client: st.Client(), Logger: logger.With("component", "compactor")}

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return syncEvents.Run(ctx) })
	g.Go(func() error { return apiEvents.Run(ctx) })
	// One server at a time syncs, every write fenced by its term of the
	// election (DESIGN.md decision 9); the others serve the API and wait.
	g.Go(func() error {
		return leader.RunFenced(ctx, st.Client(), syncer.ElectionName, leader.DefaultID(), syncer.LeaseTTL, logger.With("component", "sync"), sy.RunFenced)
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
	// Agents and clients learn every server from this registry
	// (GET /bosun/v1/servers) and fail over between them.
	started := time.Now()
	g.Go(func() error {
		return servers.Register(ctx, st.Client(), api.ServerInfo{Name: name, URL: certs.url, Started: started}, servers.DefaultTTL, logger.With("component", "servers"))
	})
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
		return controllers.Run(ctx, runControlPlane(controlplane.Config{
			Audit:                  auditLog,
			Store:                  st,
			ClusterCIDR:            clusterCIDR,
			ServiceCIDR:            serviceCIDR,
			NodePortRange:          nodePorts,
			AutoRollback:           c.autoRollback,
			Reverter:               gitwrite.BranchReverter{Writer: writer},
			OnRevert:               func(string) { triggerSync() },
			NodeMonitorGracePeriod: c.nodeMonitorGracePeriod,
			PodEvictionTimeout:     c.podEvictionTimeout,
			PodMetrics:             apiSrv,
			HPASyncPeriod:          c.hpaSyncPeriod,
			Logger:                 logger.With("component", "controllers"),
			Metrics:                reg,
		}))
	})
	if !c.noAgent {
		a := c.agent
		a.dataDir, a.clusterCIDR, a.serviceCIDR = c.dataDir, c.clusterCIDR, c.serviceCIDR
		// The server's own agent talks to the API like any other, with a
		// node credential the CA issues it here.
		if err := issueNodeCredential(certs.pki.CA, a.pkiDir(), a.nodeName, certs.localURL, []net.IP{certs.nodeIP}); err != nil {
			return fmt.Errorf("server: %w", err)
		}
		a.metrics = reg
		g.Go(func() error { return runAgent(ctx, &a, certs.localURL, logger.With("component", "agent")) })
	}
	if src.Local() {
		g.Go(func() error { return src.Watch(ctx, sy.Trigger) })
	}
	// systemd's READY=1 once the API answers, as k3s signals once its
	// apiserver is ready: not after the first sync, which a Git remote that
	// is down could hold up for ever (the unit's TimeoutStartSec=0).
	g.Go(func() error {
		notifyWhenReady(ctx, sdnotify.FromEnv(), "api", apiAnswers(certs.kubeconfig), logger)
		return nil
	})
	logger.Info("bosun server started", "repo", c.repo, "api", certs.url, "kubeconfig", certs.kubeconfig)
	err = g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("server: %w", err)
	}
	logger.Info("bosun server stopped")
	return nil
}

// runControlPlane is controlplane.Run with cfg, for an apiserver.Component.
func runControlPlane(cfg controlplane.Config) func(ctx context.Context) error {
	return func(ctx context.Context) error { return controlplane.Run(ctx, cfg) }
}

// openAuditLog opens the audit log of --audit-log, or returns nil (which
// logs nothing) without it.
func openAuditLog(c *serverConfig, logger *slog.Logger) (*audit.Logger, error) {
	l, err := audit.New(audit.Config{Path: c.auditLog, MaxSizeMB: c.auditMaxSize, MaxBackups: c.auditMaxBackup, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("--audit-log: %w", err)
	}
	if l != nil {
		logger.Info("audit log open", "path", c.auditLog, "max_size_mb", c.auditMaxSize, "max_backups", c.auditMaxBackup)
	}
	return l, nil
}

// policyShown is the sync policy as the status shows it: "manual", or
// nothing for the automatic default.
func policyShown(p string) string {
	if p == "manual" {
		return p
	}
	return ""
}
