package store_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/encryption"
	"github.com/bosun-dev/bosun/store/storetest"
)

// password is the Secret's value in tests; its base64 form is what a plain
// stored Secret would show.
const password = "hunter2-do-not-store-me"

var passwordB64 = base64.StdEncoding.EncodeToString([]byte(password))

// gcmKey is one aesgcm key of a test key file, a 32-byte secret of fill.
type gcmKey struct {
	name string
	fill byte
}

// keyFile returns an EncryptionConfiguration: aesgcm with keys (the first
// encrypts), then identity.
func keyFile(t testing.TB, keys ...gcmKey) *encryption.Transformer {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n" +
		"  - resources: [secrets]\n    providers:\n      - aesgcm:\n          keys:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "            - name: %s\n              secret: %s\n", k.name,
			base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{k.fill}, 32)))
	}
	b.WriteString("      - identity: {}\n")
	tr, err := encryption.Parse([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// storeWith returns a store on e whose Secrets go through tr (nil: none), as
// a server restarted with another key file would see e.
func storeWith(e *store.Embedded, tr *encryption.Transformer) *store.Store {
	opts := e.StoreOptions()
	if tr != nil {
		opts.Secrets = tr
	}
	return store.New(e.Client(), opts)
}

func secret(ns, name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "db"}},
		Data:       map[string][]byte{"password": []byte(password)},
	}
}

// rawValue reads the value etcd holds at key, as etcdctl get shows it.
func rawValue(t *testing.T, e *store.Embedded, key string) []byte {
	t.Helper()
	resp, err := e.Client().Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("etcd has no key %s", key)
	}
	return resp.Kvs[0].Value
}

// checkCiphertext fails unless value is encrypted with wantKey and shows no
// plaintext.
func checkCiphertext(t *testing.T, key string, value []byte, wantKey string) {
	t.Helper()
	prefix := "k8s:enc:aesgcm:v1:" + wantKey + ":"
	if !bytes.HasPrefix(value, []byte(prefix)) {
		t.Errorf("etcd value at %s starts with %q, want %q", key, value[:min(len(value), 30)], prefix)
	}
	for _, p := range []string{passwordB64, password, `"password"`, `"Secret"`, `"app"`} {
		if bytes.Contains(value, []byte(p)) {
			t.Errorf("etcd value at %s contains the plaintext %s", key, p)
		}
	}
}

func checkPassword(t *testing.T, what string, s *corev1.Secret) {
	t.Helper()
	if got := string(s.Data["password"]); got != password || s.Labels["app"] != "db" {
		t.Errorf("%s: password %q, labels %v; want %q and app=db", what, got, s.Labels, password)
	}
}

// TestSecretsEncryptedAtRest writes a Secret through each write path of the
// store and reads the raw etcd value (what etcdctl get shows): ciphertext
// with the key's prefix; reads through the store give the plaintext back.
func TestSecretsEncryptedAtRest(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	s := storeWith(e, keyFile(t, gcmKey{"key1", 'a'}))
	ctx := t.Context()
	secrets := storetest.Resource(t, "secrets")
	tests := []struct {
		name  string
		write func(t *testing.T, name string)
	}{
		{"create", func(t *testing.T, name string) {
			if err := s.Create(ctx, secret("prod", name)); err != nil {
				t.Fatal(err)
			}
		}},
		{"update", func(t *testing.T, name string) {
			sec := secret("prod", name)
			sec.Data = map[string][]byte{"password": []byte("old")}
			if err := s.Create(ctx, sec); err != nil {
				t.Fatal(err)
			}
			sec.Data = map[string][]byte{"password": []byte(password)}
			if err := s.Update(ctx, sec); err != nil {
				t.Fatal(err)
			}
		}},
		{"txn create (a sync commit)", func(t *testing.T, name string) {
			txn := s.Txn()
			if err := txn.Create(secret("prod", name)); err != nil {
				t.Fatal(err)
			}
			txn.PutRaw("/bosun/sync/test-"+name, []byte("{}"))
			if _, err := txn.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}},
		{"txn update", func(t *testing.T, name string) {
			old := secret("prod", name)
			old.Data = nil
			if err := s.Create(ctx, old); err != nil {
				t.Fatal(err)
			}
			txn := s.Txn()
			if err := txn.Update(old, secret("prod", name)); err != nil {
				t.Fatal(err)
			}
			if _, err := txn.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("db-%d", i)
			tc.write(t, name)
			key := s.Key(secrets, "prod", name)
			checkCiphertext(t, key, rawValue(t, e, key), "key1")
			var got corev1.Secret
			if err := s.Get(ctx, "prod", name, &got); err != nil {
				t.Fatal(err)
			}
			checkPassword(t, "Get", &got)
		})
	}
	list, _, err := s.List(ctx, secrets, "prod", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(tests) {
		t.Fatalf("List: %d Secrets, want %d", len(list), len(tests))
	}
	for _, o := range list {
		checkPassword(t, "List "+o.GetName(), o.(*corev1.Secret))
	}
}

// TestSecretsOnlySecrets checks that other kinds stay plain JSON.
func TestSecretsOnlySecrets(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	s := storeWith(e, keyFile(t, gcmKey{"key1", 'a'}))
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "cfg"}, Data: map[string]string{"k": "v"}}
	if err := s.Create(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
	raw := rawValue(t, e, s.Key(storetest.Resource(t, "configmaps"), "prod", "cfg"))
	if !bytes.HasPrefix(raw, []byte("{")) {
		t.Fatalf("ConfigMap stored as %q, want plain JSON", raw[:min(len(raw), 30)])
	}
}

// TestSecretsWatch checks that a watcher sees the plaintext of encrypted
// Secrets: added, modified by a transaction (with the previous state) and
// deleted.
func TestSecretsWatch(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	s := storeWith(e, keyFile(t, gcmKey{"key1", 'a'}))
	ctx := t.Context()
	secrets := storetest.Resource(t, "secrets")
	rev, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(ctx, secrets, "prod", rev)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	sec := secret("prod", "db")
	if err := s.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	// The change comes in a transaction, as a sync commit writes it.
	changed := sec.DeepCopy()
	changed.Labels["app"] = "db2"
	txn := s.Txn()
	if err := txn.Update(sec, changed); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, secrets, "prod", "db", ""); err != nil {
		t.Fatal(err)
	}

	added := next(t, w)
	if added.Type != store.Added {
		t.Fatalf("first event %s, want ADDED", describe(added))
	}
	checkPassword(t, "ADDED", added.Object.(*corev1.Secret))
	modified := next(t, w)
	if modified.Type != store.Modified || modified.Object.GetLabels()["app"] != "db2" {
		t.Fatalf("second event %s labels %v, want MODIFIED with app=db2", describe(modified), modified.Object.GetLabels())
	}
	prev, ok := modified.Previous()
	if !ok {
		t.Fatal("MODIFIED: Previous() found no previous state")
	}
	checkPassword(t, "MODIFIED previous", prev.(*corev1.Secret))
	deleted := next(t, w)
	if deleted.Type != store.Deleted || string(deleted.Object.(*corev1.Secret).Data["password"]) != password {
		t.Fatalf("third event %s, want DELETED with the last state", describe(deleted))
	}
}

// TestSecretsRotation follows the README's steps on one etcd: plaintext
// Secrets from before encryption, key1, then key2 added first and a rewrite,
// then key1 removed. Each "server" is a store with that key file.
func TestSecretsRotation(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	ctx := t.Context()
	secrets := storetest.Resource(t, "secrets")
	key1, key2 := gcmKey{"key1", 'a'}, gcmKey{"key2", 'b'}
	plainStore := storeWith(e, nil)
	key := func(name string) string { return plainStore.Key(secrets, "prod", name) }
	if err := plainStore.Create(ctx, secret("prod", "old-plain")); err != nil {
		t.Fatal(err)
	}
	s1 := storeWith(e, keyFile(t, key1))
	if err := s1.Create(ctx, secret("prod", "with-key1")); err != nil {
		t.Fatal(err)
	}
	checkCiphertext(t, key("with-key1"), rawValue(t, e, key("with-key1")), "key1")
	checkReadable(t, s1, "old-plain", "with-key1")

	// A server without the key file refuses clearly, naming key and Secret.
	var got corev1.Secret
	err := plainStore.Get(ctx, "prod", "with-key1", &got)
	checkDecryptError(t, err, `aesgcm key "key1"`, key("with-key1"))

	both := storeWith(e, keyFile(t, key2, key1))
	checkReadable(t, both, "old-plain", "with-key1")
	res, err := both.RewriteSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.RewriteResult{Checked: 2, Rewritten: 2}) {
		t.Fatalf("first rewrite: %+v, want 2 checked, 2 rewritten", res)
	}
	for _, n := range []string{"old-plain", "with-key1"} {
		checkCiphertext(t, key(n), rawValue(t, e, key(n)), "key2")
	}
	if res, err = both.RewriteSecrets(ctx); err != nil || res != (store.RewriteResult{Checked: 2}) {
		t.Fatalf("second rewrite: %+v, %v; want 2 checked, none rewritten", res, err)
	}

	// key1 removed: everything still reads; a server with only key1 does not.
	checkReadable(t, storeWith(e, keyFile(t, key2)), "old-plain", "with-key1")
	err = s1.Get(ctx, "prod", "with-key1", &got)
	checkDecryptError(t, err, `aesgcm key "key2", which the key file does not list`, key("with-key1"))
	_, _, err = s1.List(ctx, secrets, "prod", store.ListOptions{})
	checkDecryptError(t, err, `aesgcm key "key2"`, "/registry/secrets/prod/")

	// Turning encryption off: identity first, key2 still listed to read.
	off, err := encryption.Parse([]byte(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - identity: {}
      - aesgcm:
          keys:
            - name: key2
              secret: ` + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{key2.fill}, 32)) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res, err = storeWith(e, off).RewriteSecrets(ctx); err != nil || res.Rewritten != 2 {
		t.Fatalf("rewrite to plaintext: %+v, %v; want 2 rewritten", res, err)
	}
	checkReadable(t, plainStore, "old-plain", "with-key1")
}

func checkReadable(t *testing.T, s *store.Store, names ...string) {
	t.Helper()
	for _, n := range names {
		var got corev1.Secret
		if err := s.Get(t.Context(), "prod", n, &got); err != nil {
			t.Fatalf("Get %s: %v", n, err)
		}
		checkPassword(t, "Get "+n, &got)
	}
}

func checkDecryptError(t *testing.T, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, encryption.ErrDecrypt) {
		t.Fatalf("error %v, want one wrapping encryption.ErrDecrypt", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
	if strings.Contains(err.Error(), passwordB64) || strings.Contains(err.Error(), password) {
		t.Errorf("error %q shows the plaintext", err)
	}
}

// TestSecretsWrongKey checks that a key with the right name but the wrong
// secret fails every read path with an error naming the key and the Secret.
func TestSecretsWrongKey(t *testing.T) {
	e := storetest.StartEmbedded(t, storetest.Config(t, t.TempDir()))
	ctx := t.Context()
	secrets := storetest.Resource(t, "secrets")
	good := storeWith(e, keyFile(t, gcmKey{"key1", 'a'}))
	wrong := storeWith(e, keyFile(t, gcmKey{"key1", 'w'}))
	rev, err := wrong.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := wrong.Watch(ctx, secrets, "prod", rev)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := good.Create(ctx, secret("prod", "db")); err != nil {
		t.Fatal(err)
	}
	key := good.Key(secrets, "prod", "db")
	var got corev1.Secret
	checkDecryptError(t, wrong.Get(ctx, "prod", "db", &got), `aesgcm key "key1"`, key)
	_, _, err = wrong.List(ctx, secrets, "", store.ListOptions{})
	checkDecryptError(t, err, `aesgcm key "key1"`, key)
	for range w.Events() {
		t.Error("the watch delivered an event it could not decrypt")
	}
	checkDecryptError(t, w.Err(), `aesgcm key "key1"`, key)
	if _, err := wrong.RewriteSecrets(ctx); err == nil {
		t.Error("RewriteSecrets with the wrong key succeeded")
	} else {
		checkDecryptError(t, err, key)
	}
	checkCiphertext(t, key, rawValue(t, e, key), "key1")
}
