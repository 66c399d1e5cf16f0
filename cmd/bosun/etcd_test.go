package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// etcdTestRun runs the bosun command line with args and returns its output
// and error.
func etcdTestRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	root := newRootCommand(&out, &out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// etcdTestConfigMaps lists "name@resourceVersion" of the default namespace's
// ConfigMaps and the revision of the list.
func etcdTestConfigMaps(t *testing.T, s *store.Store) ([]string, int64) {
	t.Helper()
	objs, rev, err := s.List(t.Context(), storetest.Resource(t, "configmaps"), "default", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.GetName()+"@"+o.GetResourceVersion())
	}
	return out, rev
}

// TestEtcdSnapshotSaveRestoreServer is the disaster-recovery path: save a
// snapshot of a running embedded etcd, restore it into a new data
// directory, and open the store there as "bosun server --data-dir" does.
func TestEtcdSnapshotSaveRestoreServer(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	src := store.New(e.Client(), e.StoreOptions())
	for _, name := range []string{"one", "two", "three"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name}, Data: map[string]string{"n": name}}
		if err := src.Create(t.Context(), cm); err != nil {
			t.Fatal(err)
		}
	}
	want, wantRev := etcdTestConfigMaps(t, src)

	backup := filepath.Join(t.TempDir(), "bosun.db")
	out, err := etcdTestRun(t, "etcd", "snapshot", "save", backup, "--etcd-client-url", e.Endpoints()[0])
	if err != nil {
		t.Fatalf("save: %v\n%s", err, out)
	}
	data, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	for _, w := range []string{
		fmt.Sprintf("%d bytes", len(data)),
		fmt.Sprintf("revision %d,", wantRev),
		"sha256: " + hex.EncodeToString(sum[:]),
	} {
		if !strings.Contains(out, w) {
			t.Errorf("save printed %q, want %q in it", out, w)
		}
	}

	dataDir := filepath.Join(t.TempDir(), "restored")
	out, err = etcdTestRun(t, "etcd", "snapshot", "restore", backup, "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if w := fmt.Sprintf("revision %d,", wantRev); !strings.Contains(out, w) || !strings.Contains(out, "bosun server --data-dir "+dataDir) {
		t.Errorf("restore printed %q, want %q and how to start the server", out, w)
	}

	out, err = etcdTestRun(t, "etcd", "snapshot", "restore", backup, "--data-dir", dataDir)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into the same data dir again: %v, want a refusal saying it is not empty\n%s", err, out)
	}

	st, closeStore, err := openStore(t.Context(), &serverConfig{
		dataDir:       dataDir,
		etcdClientURL: "http://127.0.0.1:0",
		etcdPeerURL:   "http://127.0.0.1:0",
	}, nil, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	got, gotRev := etcdTestConfigMaps(t, st)
	if !slices.Equal(got, want) || gotRev != wantRev {
		t.Errorf("server on the restored data dir lists %v at %d, want %v at %d", got, gotRev, want, wantRev)
	}
}

func TestEtcdSnapshotSaveRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "several endpoints",
			args: []string{"etcd", "snapshot", "save", filepath.Join(dir, "a.db"), "--etcd-endpoints", "http://127.0.0.1:1,http://127.0.0.1:2"},
			want: "names 2 members",
		},
		{
			name: "certificate without key",
			args: []string{"etcd", "snapshot", "save", filepath.Join(dir, "b.db"), "--etcd-certfile", filepath.Join(dir, "c.crt")},
			want: "together",
		},
		{
			name: "restore of a missing file",
			args: []string{"etcd", "snapshot", "restore", filepath.Join(dir, "missing.db"), "--data-dir", filepath.Join(dir, "d")},
			want: "no such file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := etcdTestRun(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v\n%s: want an error with %q", err, out, tt.want)
			}
		})
	}
}

func TestServerEtcdTLSFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "TLS files with endpoints", args: []string{"--etcd-endpoints", "https://etcd:2379", "--etcd-cafile", "ca.crt", "--etcd-certfile", "c.crt", "--etcd-keyfile", "c.key"}},
		{name: "TLS files without endpoints", args: []string{"--etcd-cafile", "ca.crt"}, wantErr: "--etcd-cafile has no effect without --etcd-endpoints"},
		{name: "client certificate without endpoints", args: []string{"--etcd-certfile", "c.crt"}, wantErr: "--etcd-certfile has no effect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &serverConfig{}
			cmd := newServerCommand(&globalOptions{})
			if err := cmd.ParseFlags(append([]string{"--repo", "."}, tt.args...)); err != nil {
				t.Fatal(err)
			}
			c.etcdEndpoints, _ = cmd.Flags().GetStringSlice("etcd-endpoints")
			err := checkServerFlags(cmd, c)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkServerFlags: %v, want %q", err, tt.wantErr)
			}
		})
	}
}
