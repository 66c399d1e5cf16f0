package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// snapshotFixture is a store with a few objects and a snapshot of it.
type snapshotFixture struct {
	// objects are "name=resourceVersion" of the ConfigMaps in the snapshot.
	objects  []string
	revision int64
	info     store.SnapshotInfo
}

// saveFixture puts ConfigMaps (one updated, one deleted) into a new embedded
// etcd and saves a snapshot of it to dir/snap.db.
func saveFixture(t *testing.T, dir string) snapshotFixture {
	t.Helper()
	ctx := t.Context()
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	s := store.New(e.Client(), e.StoreOptions())
	for _, name := range []string{"a", "b", "gone"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Data: map[string]string{"k": name}}
		if err := s.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	storetest.Modify(t, s, "default", "a", &corev1.ConfigMap{}, func(cm *corev1.ConfigMap) { cm.Data["k"] = "changed" })
	if err := s.Delete(ctx, storetest.Resource(t, "configmaps"), "default", "gone", ""); err != nil {
		t.Fatal(err)
	}
	objs, rev, err := s.List(ctx, storetest.Resource(t, "configmaps"), "default", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "snap.db")
	info, err := store.SaveSnapshot(ctx, e.Client(), path)
	if err != nil {
		t.Fatal(err)
	}
	return snapshotFixture{objects: configMapVersions(t, objs), revision: rev, info: info}
}

func configMapVersions(t *testing.T, objs []api.Object) []string {
	t.Helper()
	var out []string
	for _, o := range objs {
		cm := o.(*corev1.ConfigMap)
		out = append(out, cm.Name+"="+cm.ResourceVersion+":"+cm.Data["k"])
	}
	return out
}

func TestSaveSnapshotWritesAVerifiedPrivateFile(t *testing.T) {
	dir := t.TempDir()
	f := saveFixture(t, dir)
	path := filepath.Join(dir, "snap.db")

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := store.SnapshotInfo{
		Path:     path,
		Size:     int64(len(data)),
		Revision: f.revision,
		Keys:     f.info.Keys,
		SHA256:   hex.EncodeToString(sum[:]),
		Version:  f.info.Version, // empty until etcd records its storage version
	}
	if f.info != want {
		t.Errorf("info %+v, want %+v", f.info, want)
	}
	if f.info.Keys < 2 {
		t.Errorf("Keys = %d, want the 2 ConfigMaps at least", f.info.Keys)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("dir holds %v, want the snapshot only (no temporary file left)", entries)
	}
}

func TestSaveSnapshotFails(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		file    string
		wantErr error
	}{
		{name: "missing directory", ctx: t.Context(), file: filepath.Join("missing", "snap.db"), wantErr: fs.ErrNotExist},
		{name: "context canceled", ctx: canceled, file: "snap.db", wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := store.SaveSnapshot(tt.ctx, e.Client(), filepath.Join(dir, tt.file))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("%s holds %v after the failure, want nothing", dir, entries)
			}
		})
	}
}

func TestRestoreSnapshotStartsWithTheSameObjects(t *testing.T) {
	f := saveFixture(t, t.TempDir())
	tests := []struct {
		name    string
		bump    uint64
		prepare func(t *testing.T, dataDir string)
	}{
		{name: "new directory"},
		{name: "existing empty directory", prepare: func(t *testing.T, dataDir string) {
			if err := os.Mkdir(dataDir, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "revision bumped", bump: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			cfg := storetest.Config(t, t.TempDir())
			if tt.prepare != nil {
				tt.prepare(t, cfg.DataDir)
			}
			info, err := store.RestoreSnapshot(ctx, store.RestoreConfig{
				SnapshotPath: f.info.Path,
				DataDir:      cfg.DataDir,
				RevisionBump: tt.bump,
				Logger:       storetest.Logger(t),
			})
			if err != nil {
				t.Fatal(err)
			}
			wantRev := f.revision + int64(tt.bump)
			if info.Revision != wantRev {
				t.Errorf("restored revision %d, want %d", info.Revision, wantRev)
			}
			fi, err := os.Stat(cfg.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("data dir mode %v, want 0700", fi.Mode().Perm())
			}

			e := storetest.StartEmbedded(t, cfg)
			s := store.New(e.Client(), e.StoreOptions())
			objs, rev, err := s.List(ctx, storetest.Resource(t, "configmaps"), "default", store.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := configMapVersions(t, objs); !slices.Equal(got, f.objects) {
				t.Errorf("objects after restore %v, want %v", got, f.objects)
			}
			if rev != wantRev {
				t.Errorf("list revision after restore %d, want %d", rev, wantRev)
			}
			// The restored member takes writes as the first of a new cluster.
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "after"}}
			if err := s.Create(ctx, cm); err != nil {
				t.Fatal(err)
			}
			if rvOf(t, cm) <= wantRev {
				t.Errorf("write after restore at revision %s, want above %d", cm.ResourceVersion, wantRev)
			}
			members, err := e.Client().MemberList(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(members.Members) != 1 || members.Members[0].Name != store.DefaultEmbedName {
				t.Errorf("members %v, want one named %q", members.Members, store.DefaultEmbedName)
			}
		})
	}
}

func TestRestoreSnapshotRefuses(t *testing.T) {
	f := saveFixture(t, t.TempDir())
	good, err := os.ReadFile(f.info.Path)
	if err != nil {
		t.Fatal(err)
	}
	// writeSnap writes a variant of the good snapshot and returns its path.
	writeSnap := func(t *testing.T, data []byte) string {
		p := filepath.Join(t.TempDir(), "snap.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		snapshot func(t *testing.T) string
		dataDir  func(t *testing.T, dataDir string)
		wantErr  error
		wantMsg  string
	}{
		{
			name:     "truncated",
			snapshot: func(t *testing.T) string { return writeSnap(t, good[:len(good)-100]) },
			wantErr:  api.ErrInvalid, wantMsg: "truncated",
		},
		{
			name:     "truncated to a sector and a checksum",
			snapshot: func(t *testing.T) string { return writeSnap(t, good[len(good)-512-sha256.Size:]) },
			wantErr:  api.ErrInvalid, wantMsg: "corrupted",
		},
		{
			name: "a byte flipped",
			snapshot: func(t *testing.T) string {
				bad := slices.Clone(good)
				bad[len(bad)/2] ^= 0xff
				return writeSnap(t, bad)
			},
			wantErr: api.ErrInvalid, wantMsg: "corrupted",
		},
		{
			name:     "not a snapshot",
			snapshot: func(t *testing.T) string { return writeSnap(t, []byte("apiVersion: v1\nkind: ConfigMap\n")) },
			wantErr:  api.ErrInvalid, wantMsg: "not a snapshot",
		},
		{
			name: "checksum right, no database",
			snapshot: func(t *testing.T) string {
				junk := []byte(strings.Repeat("not bbolt ", 1024)[:4096])
				sum := sha256.Sum256(junk)
				return writeSnap(t, append(junk, sum[:]...))
			},
			wantErr: api.ErrInvalid, wantMsg: "consistency check",
		},
		{
			name:     "missing file",
			snapshot: func(t *testing.T) string { return filepath.Join(t.TempDir(), "nothing.db") },
			wantErr:  fs.ErrNotExist,
		},
		{
			name:     "data dir not empty",
			snapshot: func(t *testing.T) string { return f.info.Path },
			dataDir: func(t *testing.T, dataDir string) {
				if err := os.MkdirAll(filepath.Join(dataDir, "member"), 0o700); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: api.ErrExists, wantMsg: "not empty (it holds member)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dataDir := filepath.Join(parent, "etcd")
			if tt.dataDir != nil {
				tt.dataDir(t, dataDir)
			}
			before, _ := os.ReadDir(parent)
			_, err := store.RestoreSnapshot(t.Context(), store.RestoreConfig{SnapshotPath: tt.snapshot(t), DataDir: dataDir})
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %v, want %v with %q", err, tt.wantErr, tt.wantMsg)
			}
			t.Log(err)
			after, _ := os.ReadDir(parent)
			if len(after) != len(before) {
				t.Errorf("%s holds %v after the refusal, want %v: nothing left behind", parent, after, before)
			}
		})
	}
}
