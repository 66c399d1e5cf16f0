package kustomize

import (
	"runtime"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// barrierDecrypter encrypts nothing. Reading the file first blocks until
// the file second has been read by another rendering, or until wait has
// passed, when it records that it gave up.
type barrierDecrypter struct {
	first, second string
	wait          time.Duration
	seen          chan struct{}
	once          sync.Once
	mu            sync.Mutex
	gaveUp        bool
}

func (d *barrierDecrypter) Encrypted(file string, _ []byte) bool {
	switch file {
	case d.second:
		d.once.Do(func() { close(d.seen) })
	case d.first:
		select {
		case <-d.seen:
		case <-time.After(d.wait):
			d.mu.Lock()
			d.gaveUp = true
			d.mu.Unlock()
		}
	}
	return false
}

func (d *barrierDecrypter) Decrypt(string, []byte) ([]byte, error) { return nil, nil }

// TestRenderRootsConcurrently renders two independent roots, the first of
// which cannot finish reading its resource until the second has read its
// own: only rendering them at the same time gets through without waiting.
// The output still lists the first root's objects first.
func TestRenderRootsConcurrently(t *testing.T) {
	prev := runtime.GOMAXPROCS(2)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	fsys := fstest.MapFS{}
	for _, dir := range []string{"a", "b"} {
		fsys[dir+"/kustomization.yaml"] = &fstest.MapFile{Data: []byte("namespace: " + dir + "\nresources:\n  - res.yaml\n")}
		fsys[dir+"/res.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-" + dir + "\n")}
	}
	dec := &barrierDecrypter{first: "a/res.yaml", second: "b/res.yaml", wait: 5 * time.Second, seen: make(chan struct{})}
	objs, probs, err := New(Options{Decrypter: dec}).Render(fsys, []string{"a", "b"})
	if err != nil || len(probs) != 0 {
		t.Fatalf("render: problems %v, err %v", probs, err)
	}
	if dec.gaveUp {
		t.Errorf("root a waited %v for root b to start: the roots were rendered one after the other", dec.wait)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.RenderedBy)
	}
	want := []string{"a/kustomization.yaml", "b/kustomization.yaml"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("objects rendered by %v, want %v (the order of the roots)", got, want)
	}
}

// TestRenderedDataWrittenOnce checks how an object's YAML is written: in
// the resource file's field order (written from kustomize's tree, not
// through JSON, which sorts keys) and without the file's comments (a
// decrypted file's comments are plaintext).
func TestRenderedDataWrittenOnce(t *testing.T) {
	fsys := fstest.MapFS{
		"app/kustomization.yaml": {Data: []byte("resources:\n  - secret.yaml\n")},
		"app/secret.yaml":        {Data: []byte("#ENC\n# the token is plaintext-token-comment\nkind: Secret\napiVersion: v1\nmetadata:\n  name: token # rotated by hand-line-comment\nstringData:\n  token: t0ken\n")},
	}
	objs, probs, err := New(Options{Decrypter: fakeDecrypter{}}).Render(fsys, []string{"app"})
	if err != nil || len(probs) != 0 || len(objs) != 1 {
		t.Fatalf("render: %d objects, problems %v, err %v", len(objs), probs, err)
	}
	want := "kind: Secret\napiVersion: v1\nmetadata:\n  name: token\nstringData:\n  token: t0ken\n"
	if got := string(objs[0].Data); got != want {
		t.Errorf("rendered object:\n%s\nwant (the file's field order, no comments):\n%s", got, want)
	}
}
