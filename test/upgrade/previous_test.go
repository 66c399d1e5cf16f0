package upgrade

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/internal/testenv"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// storedKinds are the kinds the previous release's data dir holds, with
// the etcd resource name and the API path that lists them.
var storedKinds = []struct{ resource, path string }{
	{"namespaces", "/api/v1/namespaces"},
	{"deployments", "/apis/apps/v1/deployments"},
	{"replicasets", "/apis/apps/v1/replicasets"},
	{"pods", "/api/v1/pods"},
	{"services", "/api/v1/services"},
	{"secrets", "/api/v1/secrets"},
	{"configmaps", "/api/v1/configmaps"},
}

type meta struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	} `json:"metadata"`
	Data map[string]string `json:"data"`
}

func (m meta) id() string { return m.Metadata.Namespace + "/" + m.Metadata.Name }

// previousObjects extracts the previous release's data dir into dataDir and
// returns, per resource, the objects its etcd holds (namespace/name ->
// uid); it checks the store has no format key (the pre-versioning format).
func previousObjects(t *testing.T, dataDir string) map[string]map[string]meta {
	t.Helper()
	if out, err := exec.Command("tar", "-xzf", filepath.Join("testdata", "previous-etcd.tar.gz"), "-C", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("extract the previous release's data dir: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	emb, err := store.StartEmbedded(ctx, storetest.Config(t, dataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	if f := formatKey(t, emb.Client()); f != "" {
		t.Fatalf("the previous release's data dir has %s = %q: it must be the pre-versioning format (none)", store.FormatKey, f)
	}
	settings, ok, err := store.LoadClusterSettings(ctx, emb.Client())
	if err != nil || !ok {
		t.Fatalf("the previous release's data dir has no cluster settings: %v", err)
	}
	makeClusterRepo(t, settings.Repo)
	objs := map[string]map[string]meta{}
	for _, k := range storedKinds {
		resp, err := emb.Client().Get(ctx, "/registry/"+k.resource+"/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		objs[k.resource] = map[string]meta{}
		for _, kv := range resp.Kvs {
			var m meta
			if err := json.Unmarshal(kv.Value, &m); err != nil {
				t.Fatalf("%s: %v", kv.Key, err)
			}
			objs[k.resource][m.id()] = m
		}
	}
	for _, want := range []struct {
		resource string
		min      int
	}{{"namespaces", 2}, {"deployments", 2}, {"pods", 5}, {"services", 2}, {"secrets", 1}} {
		if len(objs[want.resource]) < want.min {
			t.Fatalf("the previous release's data dir has %d %s, want at least %d: remake it (testdata/make-previous.sh)", len(objs[want.resource]), want.resource, want.min)
		}
	}
	return objs
}

// makeClusterRepo makes the Git repository the previous release's cluster
// names (a fixed path, see testdata/make-previous.sh) from testdata/repo,
// so that this release's server, started without --repo as a restarted
// unit would be, finds it. The test removes it.
func makeClusterRepo(t *testing.T, path string) {
	t.Helper()
	if !strings.HasPrefix(path, "/tmp/bosun-upgrade-testdata/") {
		t.Fatalf("the previous release's cluster names the repository %q, not one under /tmp/bosun-upgrade-testdata/: remake the data dir (testdata/make-previous.sh)", path)
	}
	root := filepath.Dir(path)
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(newRepo(t, filepath.Join("testdata", "repo")), path); err != nil {
		t.Fatal(err)
	}
}

func formatKey(t *testing.T, c *clientv3.Client) string {
	t.Helper()
	resp, err := c.Get(context.Background(), store.FormatKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// checkServed checks that s serves every object of want with its uid (and
// a Secret with its data), and that the store format is FormatVersion.
func checkServed(t *testing.T, s *server, want map[string]map[string]meta) {
	t.Helper()
	for _, k := range storedKinds {
		resp, err := http.Get(s.url + k.path)
		if err != nil {
			t.Fatal(err)
		}
		var list struct{ Items []meta }
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %v", k.path, resp.Status, err)
		}
		got := map[string]meta{}
		for _, m := range list.Items {
			got[m.id()] = m
		}
		var missing []string
		for id, m := range want[k.resource] {
			g, ok := got[id]
			switch {
			case !ok:
				missing = append(missing, id+" (not served)")
			case g.Metadata.UID != m.Metadata.UID:
				missing = append(missing, id+" (uid "+g.Metadata.UID+", stored "+m.Metadata.UID+")")
			case k.resource == "secrets" && g.Data["TOKEN"] != m.Data["TOKEN"]:
				missing = append(missing, id+" (data changed)")
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s of the previous release not served as stored: %s", k.resource, strings.Join(missing, ", "))
		}
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{s.etcdURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := formatKey(t, c), "1"; got != want {
		t.Errorf("%s = %q after the start, want %q", store.FormatKey, got, want)
	}
}

// TestServesPreviousDataDir starts this release's server on the data dir
// the previous release left (testdata/previous-etcd.tar.gz): it migrates
// the store format and serves every object as stored; started again, it
// migrates nothing and serves the same. Both start without --repo, as a
// restarted unit whose config names no repository: they use the
// cluster's.
func TestServesPreviousDataDir(t *testing.T) {
	testenv.E2E(t, testenv.Binary("git"), testenv.Binary("tar"))
	dataDir := t.TempDir()
	want := previousObjects(t, dataDir)

	s := newServer(t, bosunBin, dataDir, "", "--no-agent")
	s.start()
	checkServed(t, s, want)
	if !strings.Contains(s.log.String(), "migrated the store's format") {
		t.Errorf("the first start did not log the migration of the store format")
	}
	s.stop(syscall.SIGTERM)

	again := newServer(t, bosunBin, dataDir, "", "--no-agent")
	again.start()
	checkServed(t, again, want)
	for _, l := range []string{"migrated the store's format", "recorded the store format of a new store"} {
		if strings.Contains(again.log.String(), l) {
			t.Errorf("the second start logged %q: the format was recorded by the first", l)
		}
	}
}
