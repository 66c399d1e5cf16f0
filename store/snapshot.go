package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/internal/defaults"
)

// DefaultInitialClusterToken is the cluster token RestoreSnapshot gives a
// restored member when RestoreConfig names none: etcd's own default, which the
// embedded etcd uses too.
const DefaultInitialClusterToken = "etcd-cluster"

// SnapshotInfo describes a snapshot file: etcd's bbolt database followed by
// the SHA-256 of the database (the format of etcd's snapshot API, which
// "etcdctl snapshot save" writes and "etcdutl snapshot restore" reads).
type SnapshotInfo struct {
	// Path is the file.
	Path string
	// Size is the file's size in bytes, the trailing checksum included.
	Size int64
	// Revision is the etcd revision of the newest write in the snapshot:
	// the resourceVersion a list returns right after a restore.
	Revision int64
	// Keys is the number of live keys.
	Keys int
	// SHA256 is the hex SHA-256 of the whole file, as sha256sum prints it.
	SHA256 string
	// Version is the etcd storage version of the snapshot ("3.7.0"): the one
	// the server reported (SaveSnapshot) or the one recorded in the database
	// (VerifySnapshot). Empty when etcd had not recorded one yet (in its
	// first seconds) and before etcd 3.6.
	Version string
}

// SaveSnapshot streams a point-in-time snapshot of the etcd member cli reaches
// (etcd's Maintenance.Snapshot) to path and returns what it holds. The file
// appears whole or not at all: it is written to a temporary file beside path
// (mode 0600), checked as VerifySnapshot checks it, synced and renamed over
// path. Give cli one endpoint: the snapshot is that member's state. Errors
// from etcd are wrapped as the store's other calls wrap them; a stream that
// fails its own checksum wraps api.ErrInvalid.
func SaveSnapshot(ctx context.Context, cli *clientv3.Client, path string) (info SnapshotInfo, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".part-*")
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot %s: %w", path, err)
	}
	resp, err := cli.SnapshotWithVersion(ctx)
	if err != nil {
		return SnapshotInfo{}, mapErr("save snapshot "+path, err)
	}
	defer resp.Snapshot.Close()
	if _, err := io.Copy(f, resp.Snapshot); err != nil {
		return SnapshotInfo{}, mapErr("save snapshot "+path+": stream", err)
	}
	if err := f.Sync(); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot %s: %w", path, err)
	}
	info, err = verifySnapshot(tmp)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot %s: etcd sent a bad snapshot: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: save snapshot %s: %w", path, err)
	}
	info.Path = path
	if resp.Version != "" {
		info.Version = resp.Version
	}
	return info, nil
}

// VerifySnapshot checks a snapshot file without changing it: its size must be
// a database plus a 32-byte SHA-256, that checksum must match the database,
// and the database must pass bbolt's consistency check. A file that fails
// wraps api.ErrInvalid and says what is wrong (truncated, corrupted, not a
// snapshot); a missing file wraps fs.ErrNotExist.
func VerifySnapshot(path string) (SnapshotInfo, error) {
	info, err := verifySnapshot(path)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: snapshot %s: %w", path, err)
	}
	return info, nil
}

// verifySnapshot is VerifySnapshot; its errors do not name the file.
func verifySnapshot(path string) (SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return SnapshotInfo{}, err
	}
	size := fi.Size()
	// etcd appends the SHA-256 of the database to the stream; a bbolt
	// database is a whole number of 512-byte sectors (etcdutl reads it so).
	if size < 512+sha256.Size || size%512 != sha256.Size {
		return SnapshotInfo{}, fmt.Errorf("%w: %d bytes is not an etcd database followed by its SHA-256 (the file is truncated, or not a snapshot of \"bosun etcd snapshot save\" or \"etcdctl snapshot save\")", api.ErrInvalid, size)
	}
	whole, db := sha256.New(), sha256.New()
	if _, err := io.CopyN(io.MultiWriter(whole, db), f, size-sha256.Size); err != nil {
		return SnapshotInfo{}, fmt.Errorf("read: %w", err)
	}
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, sum); err != nil {
		return SnapshotInfo{}, fmt.Errorf("read: %w", err)
	}
	whole.Write(sum)
	if got := db.Sum(nil); !bytes.Equal(got, sum) {
		return SnapshotInfo{}, fmt.Errorf("%w: the database's SHA-256 is %x but the file says %x: the file is corrupted; use another copy", api.ErrInvalid, got, sum)
	}
	st, err := snapshot.NewV3(zap.NewNop()).Status(path)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: the database fails its consistency check: %w", api.ErrInvalid, err)
	}
	return SnapshotInfo{
		Path:     path,
		Size:     size,
		Revision: st.Revision,
		Keys:     st.TotalKey,
		SHA256:   hex.EncodeToString(whole.Sum(nil)),
		Version:  st.Version,
	}, nil
}

// RestoreConfig configures RestoreSnapshot.
type RestoreConfig struct {
	// SnapshotPath is the snapshot file (required).
	SnapshotPath string
	// DataDir is the new member's etcd data directory (required): the
	// EmbedConfig.DataDir the server will start with, <data-dir>/etcd for
	// "bosun server". It must not exist or be empty.
	DataDir string
	// Name is the member's name; default DefaultEmbedName. The server must
	// run the member under the same name.
	Name string
	// PeerURL is the member's peer URL; default DefaultPeerURL. Give the one
	// the server will advertise (EmbedConfig.PeerURL) so that members added
	// later reach this one.
	PeerURL string
	// InitialClusterToken makes the new cluster's ID; default
	// DefaultInitialClusterToken.
	InitialClusterToken string
	// RevisionBump, when positive, raises the restored revision by this much
	// and marks the old revisions compacted, so that clients that watched
	// the old cluster never see a revision again with other contents (they
	// list again instead). 0 keeps the snapshot's revision.
	RevisionBump uint64
	// Logger receives etcd's warnings; nil discards them.
	Logger *slog.Logger
}

// RestoreSnapshot makes DataDir a fresh single-member etcd data directory
// holding the snapshot's keys at the snapshot's revision (plus RevisionBump),
// as "etcdutl snapshot restore" does; StartEmbedded on it then serves them as
// the first member of a new cluster. The snapshot is verified first
// (VerifySnapshot's errors). A DataDir that exists and is not empty is
// refused with api.ErrExists. The restore is built in a temporary directory
// beside DataDir and renamed into place, so a failure leaves nothing behind.
func RestoreSnapshot(ctx context.Context, cfg RestoreConfig) (SnapshotInfo, error) {
	if cfg.SnapshotPath == "" || cfg.DataDir == "" {
		return SnapshotInfo{}, fmt.Errorf("store: restore snapshot: %w: SnapshotPath and DataDir are required", api.ErrInvalid)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultEmbedName
	}
	if cfg.PeerURL == "" {
		cfg.PeerURL = DefaultPeerURL
	}
	if cfg.InitialClusterToken == "" {
		cfg.InitialClusterToken = DefaultInitialClusterToken
	}
	logger := cfg.Logger
	defaults.Logger(&logger)
	if err := ctx.Err(); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: restore snapshot: %w", err)
	}
	if err := checkEmptyDir(cfg.DataDir); err != nil {
		return SnapshotInfo{}, err
	}
	info, err := verifySnapshot(cfg.SnapshotPath)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: restore snapshot %s: %w", cfg.SnapshotPath, err)
	}
	parent := filepath.Dir(filepath.Clean(cfg.DataDir))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: restore snapshot into %s: %w", cfg.DataDir, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(cfg.DataDir)+".restore-*")
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: restore snapshot into %s: %w", cfg.DataDir, err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(tmp)
		}
	}()
	zl := zap.New(newSlogCore(logger.With("component", "etcd-restore"), new(atomic.Bool)))
	err = snapshot.NewV3(zl).Restore(snapshot.RestoreConfig{
		SnapshotPath:        cfg.SnapshotPath,
		Name:                cfg.Name,
		OutputDataDir:       tmp,
		PeerURLs:            []string{cfg.PeerURL},
		InitialCluster:      cfg.Name + "=" + cfg.PeerURL,
		InitialClusterToken: cfg.InitialClusterToken,
		RevisionBump:        cfg.RevisionBump,
		MarkCompacted:       cfg.RevisionBump > 0,
	})
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: restore snapshot %s into %s: %w", cfg.SnapshotPath, cfg.DataDir, err)
	}
	// An empty DataDir goes; os.Remove refuses one that is no longer empty.
	if err := os.Remove(cfg.DataDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if cerr := checkEmptyDir(cfg.DataDir); cerr != nil {
			return SnapshotInfo{}, cerr
		}
		return SnapshotInfo{}, fmt.Errorf("store: restore snapshot into %s: %w", cfg.DataDir, err)
	}
	if err := os.Rename(tmp, cfg.DataDir); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: restore snapshot into %s: %w", cfg.DataDir, err)
	}
	done = true
	if err := syncDir(parent); err != nil {
		return SnapshotInfo{}, fmt.Errorf("store: restore snapshot into %s: %w", cfg.DataDir, err)
	}
	info.Revision += int64(cfg.RevisionBump)
	return info, nil
}

// checkEmptyDir refuses a directory that exists and has entries.
func checkEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("store: restore snapshot into %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("store: restore snapshot into %s: %w: the directory is not empty (it holds %s): restore into a new data directory, or move this one away first", dir, api.ErrExists, entries[0].Name())
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
