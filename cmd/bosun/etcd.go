package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bosun-dev/bosun/pki"
	"github.com/bosun-dev/bosun/store"
)

// etcdTLSFiles are the --etcd-cafile, --etcd-certfile and --etcd-keyfile
// flags: how bosun speaks TLS to an etcd it did not start.
type etcdTLSFiles struct {
	caFile, certFile, keyFile string
}

// etcdTLSFlagNames are the names addEtcdTLSFlags defines.
func etcdTLSFlagNames() []string { return []string{"etcd-cafile", "etcd-certfile", "etcd-keyfile"} }

func addEtcdTLSFlags(f *pflag.FlagSet, t *etcdTLSFiles) {
	f.StringVar(&t.caFile, "etcd-cafile", "", "CA certificate file that verifies the etcd members' serving certificates, for https etcd URLs (default: the system's roots)")
	f.StringVar(&t.certFile, "etcd-certfile", "", "client certificate file bosun presents to etcd (etcd's --client-cert-auth); with --etcd-keyfile")
	f.StringVar(&t.keyFile, "etcd-keyfile", "", "key file of --etcd-certfile")
}

// connectOptions turns the flags into store.Connect's options: none when no
// flag is set.
func (t etcdTLSFiles) connectOptions() ([]store.ConnectOption, error) {
	if t == (etcdTLSFiles{}) {
		return nil, nil
	}
	cfg, err := store.ClientTLSFiles(t.caFile, t.certFile, t.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--etcd-cafile/--etcd-certfile/--etcd-keyfile: %w", err)
	}
	return []store.ConnectOption{store.WithTLS(cfg)}, nil
}

func newEtcdCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "etcd",
		Short: "Back up and restore the etcd that holds the cluster's state",
		Args:  cobra.NoArgs,
	}
	snap := &cobra.Command{
		Use:   "snapshot",
		Short: "Save a snapshot of etcd to a file, or restore one into a new data directory",
		Long: `A snapshot is etcd's own backup format (what "etcdctl snapshot save" writes
and "etcdutl snapshot restore" reads): the whole key space at one revision,
followed by its SHA-256. It holds everything bosun keeps in etcd: the synced
objects, what the controllers and agents wrote, sync status and history,
bootstrap tokens. It does not hold the cluster CA and certificates in
<data-dir>/pki: back those up as files.

Disaster recovery:
  bosun etcd snapshot save /backup/bosun.db             # on a running server, regularly
  bosun etcd snapshot restore /backup/bosun.db --data-dir /var/lib/bosun
  bosun server --data-dir /var/lib/bosun --repo ...     # the first member of a new cluster`,
		Args: cobra.NoArgs,
	}
	snap.AddCommand(newSnapshotSaveCommand(), newSnapshotRestoreCommand(g))
	cmd.AddCommand(snap)
	return cmd
}

// snapshotSaveConfig configures bosun etcd snapshot save.
type snapshotSaveConfig struct {
	endpoints []string
	clientURL string
	dataDir   string
	tls       etcdTLSFiles
}

func newSnapshotSaveCommand() *cobra.Command {
	c := &snapshotSaveConfig{}
	cmd := &cobra.Command{
		Use:   "save FILE",
		Short: "Stream a snapshot of etcd to FILE",
		Long: `save streams a point-in-time snapshot of etcd (its snapshot API) to FILE.
The file appears whole or not at all (a temporary file beside it, renamed
when complete and checked), with mode 0600: it holds every secret in etcd.
It prints the file's size, the revision it holds and its SHA-256 (compare
with "sha256sum FILE" after copying it elsewhere).

By default it asks the embedded etcd of a running "bosun server" on this
machine, at --etcd-client-url (the server's flag, same default); for a
server started with --cluster-init (etcd over TLS) it uses the etcd client
credential in <data-dir>/pki/etcd and https://127.0.0.1:2379. For a server
on an external etcd, name one member with --etcd-endpoints, and TLS files
with --etcd-cafile, --etcd-certfile and --etcd-keyfile as the server has them.

Examples:
  bosun etcd snapshot save /backup/bosun-$(date +%F).db
  bosun etcd snapshot save snap.db --etcd-endpoints https://etcd-1:2379 \
      --etcd-cafile ca.crt --etcd-certfile client.crt --etcd-keyfile client.key`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSnapshotSave(cmd.Context(), c, args[0], cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&c.endpoints, "etcd-endpoints", nil, "client URL of one member of an external etcd cluster (instead of the embedded etcd)")
	f.StringVar(&c.clientURL, "etcd-client-url", "", "client URL of the server's embedded etcd (default "+store.DefaultClientURL+", or "+clusterEtcdClientURL+" for a --cluster-init server)")
	f.StringVar(&c.dataDir, "data-dir", defaultMemberDataDir, "the server's data directory: its pki/etcd holds the etcd client credential of a --cluster-init server")
	addEtcdTLSFlags(f, &c.tls)
	return cmd
}

func runSnapshotSave(ctx context.Context, c *snapshotSaveConfig, path string, out io.Writer) error {
	endpoint := c.clientURL
	switch len(c.endpoints) {
	case 0:
	case 1:
		endpoint = c.endpoints[0]
	default:
		return fmt.Errorf("snapshot save: --etcd-endpoints names %d members (%s); name one: a snapshot is the state of the member asked", len(c.endpoints), strings.Join(c.endpoints, ","))
	}
	opts, err := c.tls.connectOptions()
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	if len(c.endpoints) == 0 && len(opts) == 0 {
		// The embedded etcd: over TLS with the server's etcd client
		// credential when it was started with --cluster-init.
		if tlsConfig, err := pki.LoadEtcdClientTLS(etcdTLSDir(c.dataDir)); err == nil {
			opts = append(opts, store.WithTLS(tlsConfig))
			if endpoint == "" {
				endpoint = clusterEtcdClientURL
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("snapshot save: %w", err)
		}
	}
	if endpoint == "" {
		endpoint = store.DefaultClientURL
	}
	cli, err := store.Connect(ctx, []string{endpoint}, opts...)
	if err != nil {
		if len(c.endpoints) == 0 {
			return fmt.Errorf("snapshot save: %w (is \"bosun server\" running here with --etcd-client-url %s?)", err, endpoint)
		}
		return fmt.Errorf("snapshot save: %w", err)
	}
	defer cli.Close()
	info, err := store.SaveSnapshot(ctx, cli, path)
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	version := ""
	if info.Version != "" {
		version = ", etcd storage version " + info.Version
	}
	fmt.Fprintf(out, "Saved a snapshot of etcd at %s to %s: %d bytes, revision %d, %d keys%s.\n",
		endpoint, info.Path, info.Size, info.Revision, info.Keys, version)
	fmt.Fprintf(out, "sha256: %s\n", info.SHA256)
	return nil
}

// snapshotRestoreConfig configures bosun etcd snapshot restore.
type snapshotRestoreConfig struct {
	dataDir      string
	name         string
	peerURL      string
	revisionBump uint64
}

func newSnapshotRestoreCommand(g *globalOptions) *cobra.Command {
	c := &snapshotRestoreConfig{}
	cmd := &cobra.Command{
		Use:   "restore FILE --data-dir DIR",
		Short: "Restore a snapshot into a new data directory for bosun server",
		Long: `restore makes <data-dir>/etcd a new single-member etcd holding FILE's keys at
FILE's revision; "bosun server --data-dir DIR" then starts on it with every
object the snapshot held, as the first member of a new cluster. FILE is
checked first (its SHA-256 and the database's consistency): a truncated or
corrupted file is refused. <data-dir>/etcd must not exist or be empty: stop
the server and move the old one away first. The rest of the data directory
(pki, kubeconfig, Git clones) is left as it is: restore <data-dir>/pki from
its own backup to keep the cluster's CA, or the server makes a new one and
every node joins again.

Give --name and --etcd-peer-url the values the server will run with.
--bump-revision raises the revision (and marks the older ones compacted) so
that clients that watched the old cluster list again rather than miss
changes; agents and clients reconnecting to a restored server relist anyway.

Examples:
  bosun etcd snapshot restore /backup/bosun.db --data-dir /var/lib/bosun
  bosun server --data-dir /var/lib/bosun --repo https://git.example.com/team/deploy.git`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runSnapshotRestore(cmd.Context(), c, args[0], cmd.OutOrStdout(), logger)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.dataDir, "data-dir", "/var/lib/bosun", "the data directory \"bosun server --data-dir\" will use; the snapshot goes to its etcd subdirectory")
	f.StringVar(&c.name, "name", store.DefaultEmbedName, "name of the restored etcd member")
	f.StringVar(&c.peerURL, "etcd-peer-url", store.DefaultPeerURL, "peer URL of the restored member: the server's --etcd-peer-url")
	f.Uint64Var(&c.revisionBump, "bump-revision", 0, "raise the restored revision by this much and mark the older ones compacted (0: keep the snapshot's revision)")
	return cmd
}

// etcdDataDir is where "bosun server --data-dir" keeps its embedded etcd.
func etcdDataDir(dataDir string) string { return filepath.Join(dataDir, "etcd") }

func runSnapshotRestore(ctx context.Context, c *snapshotRestoreConfig, path string, out io.Writer, logger *slog.Logger) error {
	if c.dataDir == "" {
		return errors.New("snapshot restore: --data-dir is required")
	}
	dir := etcdDataDir(c.dataDir)
	info, err := store.RestoreSnapshot(ctx, store.RestoreConfig{
		SnapshotPath: path,
		DataDir:      dir,
		Name:         c.name,
		PeerURL:      c.peerURL,
		RevisionBump: c.revisionBump,
		Logger:       logger.With("component", "etcd"),
	})
	if err != nil {
		return fmt.Errorf("snapshot restore: %w", err)
	}
	fmt.Fprintf(out, "Restored %s into %s: revision %d, %d keys, member %q at %s.\n", path, dir, info.Revision, info.Keys, c.name, c.peerURL)
	fmt.Fprintf(out, "Start the server on it: bosun server --data-dir %s --repo ...\n", c.dataDir)
	return nil
}
