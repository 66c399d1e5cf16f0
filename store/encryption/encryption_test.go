package encryption_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/store/encryption"
)

const etcdKey = "/registry/secrets/prod/db"

var plain = []byte(`{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}`)

// secret returns a base64 key of n bytes filled with b.
func secret(b byte, n int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, n))
}

// config returns a key file with providers given as YAML list items.
func config(providers ...string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
%s`, strings.Join(providers, "")))
}

// k is one key of a provider in a test key file: name and a secret of n
// bytes, all equal to b.
type k struct {
	name string
	b    byte
	n    int
}

func provider(name string, keys ...k) string {
	s := "      - " + name + ":\n          keys:\n"
	for _, key := range keys {
		s += fmt.Sprintf("            - name: %s\n              secret: %s\n", key.name, secret(key.b, key.n))
	}
	return s
}

func aesgcm(keys ...k) string        { return provider("aesgcm", keys...) }
func secretboxKeys(keys ...k) string { return provider("secretbox", keys...) }

const identity = "      - identity: {}\n"

func mustParse(t *testing.T, data []byte) *encryption.Transformer {
	t.Helper()
	tr, err := encryption.Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, data)
	}
	return tr
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		cfg      []byte
		prefix   string // of the stored value; "" = plaintext
		writeKey string
	}{
		{"aesgcm", config(aesgcm(k{"key1", 'a', 32}), identity), "k8s:enc:aesgcm:v1:key1:", "aesgcm:key1"},
		{"aesgcm 16-byte key", config(aesgcm(k{"k", 'a', 16})), "k8s:enc:aesgcm:v1:k:", "aesgcm:k"},
		{"aesgcm 24-byte key", config(aesgcm(k{"k", 'a', 24})), "k8s:enc:aesgcm:v1:k:", "aesgcm:k"},
		{"secretbox", config(secretboxKeys(k{"box1", 'p', 32})), "k8s:enc:secretbox:v1:box1:", "secretbox:box1"},
		{"secretbox first, aesgcm second", config(secretboxKeys(k{"box1", 'p', 32}), aesgcm(k{"key1", 'a', 32})), "k8s:enc:secretbox:v1:box1:", "secretbox:box1"},
		{"identity first writes plaintext", config(identity, aesgcm(k{"key1", 'a', 32})), "", "identity"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := mustParse(t, tc.cfg)
			if got := tr.WriteKey(); got != tc.writeKey {
				t.Errorf("WriteKey = %q, want %q", got, tc.writeKey)
			}
			stored, err := tr.ToStorage(etcdKey, plain)
			if err != nil {
				t.Fatal(err)
			}
			if tc.prefix == "" {
				if !bytes.Equal(stored, plain) {
					t.Fatalf("identity stored %q, want the plaintext", stored)
				}
			} else {
				if !bytes.HasPrefix(stored, []byte(tc.prefix)) {
					t.Fatalf("stored value %q does not start with %q", stored, tc.prefix)
				}
				if bytes.Contains(stored, []byte("aHVudGVyMg")) || bytes.Contains(stored, []byte("Secret")) {
					t.Fatalf("stored value contains plaintext: %q", stored)
				}
			}
			got, stale, err := tr.FromStorage(etcdKey, stored)
			if err != nil {
				t.Fatal(err)
			}
			if stale || !bytes.Equal(got, plain) {
				t.Fatalf("FromStorage = %q, stale %v; want %q, not stale", got, stale, plain)
			}
		})
	}
}

func TestNonceIsFresh(t *testing.T) {
	tr := mustParse(t, config(aesgcm(k{"key1", 'a', 32})))
	a, _ := tr.ToStorage(etcdKey, plain)
	b, _ := tr.ToStorage(etcdKey, plain)
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions of the same value are equal: the nonce is reused")
	}
}

// TestRotation follows the documented steps: old key only; new key added
// first (both decrypt, new encrypts, old values stale); old key removed.
func TestRotation(t *testing.T) {
	oldKey, newKey := k{"old", 'a', 32}, k{"new", 'z', 32}
	oldOnly := mustParse(t, config(aesgcm(oldKey), identity))
	both := mustParse(t, config(aesgcm(newKey, oldKey), identity))
	newOnly := mustParse(t, config(aesgcm(newKey), identity))

	oldValue, err := oldOnly.ToStorage(etcdKey, plain)
	if err != nil {
		t.Fatal(err)
	}
	got, stale, err := both.FromStorage(etcdKey, oldValue)
	if err != nil || !bytes.Equal(got, plain) || !stale {
		t.Fatalf("both keys reading an old value: %q, stale %v, %v; want plaintext, stale", got, stale, err)
	}
	plainValue, stale, err := both.FromStorage(etcdKey, plain)
	if err != nil || !bytes.Equal(plainValue, plain) || !stale {
		t.Fatalf("both keys reading a plaintext value: %q, stale %v, %v; want it, stale", plainValue, stale, err)
	}
	newValue, err := both.ToStorage(etcdKey, got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(newValue, []byte("k8s:enc:aesgcm:v1:new:")) {
		t.Fatalf("rewrite used %q, want the new key", newValue[:30])
	}
	if got, stale, err := newOnly.FromStorage(etcdKey, newValue); err != nil || stale || !bytes.Equal(got, plain) {
		t.Fatalf("new key alone reading the rewritten value: %q, stale %v, %v", got, stale, err)
	}
	_, _, err = newOnly.FromStorage(etcdKey, oldValue)
	if !errors.Is(err, encryption.ErrDecrypt) || !strings.Contains(err.Error(), `aesgcm key "old"`) ||
		!strings.Contains(err.Error(), etcdKey) {
		t.Fatalf("reading a value of a removed key: %v; want ErrDecrypt naming aesgcm key \"old\" and %s", err, etcdKey)
	}
}

// TestRejected checks that values that must not decrypt do not, with an
// error naming the key, and never return plaintext.
func TestRejected(t *testing.T) {
	tr := mustParse(t, config(aesgcm(k{"key1", 'a', 32})))
	box := mustParse(t, config(secretboxKeys(k{"key1", 'p', 32})))
	wrong := mustParse(t, config(aesgcm(k{"key1", 'w', 32})))
	good, _ := tr.ToStorage(etcdKey, plain)
	goodBox, _ := box.ToStorage(etcdKey, plain)
	flip := func(v []byte, i int) []byte {
		c := bytes.Clone(v)
		c[i] ^= 1
		return c
	}
	tests := []struct {
		name   string
		tr     *encryption.Transformer
		key    string
		stored []byte
		want   string
	}{
		{"wrong key with the same name", wrong, etcdKey, good, `aesgcm key "key1"`},
		{"tampered ciphertext", tr, etcdKey, flip(good, len(good)-20), `aesgcm key "key1"`},
		{"tampered nonce", tr, etcdKey, flip(good, len("k8s:enc:aesgcm:v1:key1:")), `aesgcm key "key1"`},
		{"tampered tag", tr, etcdKey, flip(good, len(good)-1), `aesgcm key "key1"`},
		{"moved to another etcd key", tr, "/registry/secrets/prod/other", good, `aesgcm key "key1"`},
		{"truncated", tr, etcdKey, good[:len("k8s:enc:aesgcm:v1:key1:")+5], "too short"},
		{"tampered secretbox", box, etcdKey, flip(goodBox, len(goodBox)-3), `secretbox key "key1"`},
		{"unknown key", tr, etcdKey, []byte("k8s:enc:aesgcm:v1:key9:0123456789abcdefghijklmnopqrstuvwxyz"), `aesgcm key "key9", which the key file does not list`},
		{"unknown provider", tr, etcdKey, []byte("k8s:enc:kms:v2:vault:0123456789abcdefghijklmnopqrstuvwxyz"), `kms key "vault"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := tc.tr.FromStorage(tc.key, tc.stored)
			if err == nil {
				t.Fatalf("FromStorage succeeded with %q", got)
			}
			if got != nil {
				t.Errorf("FromStorage returned data with its error: %q", got)
			}
			if !errors.Is(err, encryption.ErrDecrypt) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want ErrDecrypt containing %q", err, tc.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	header := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
	tests := []struct {
		name string
		cfg  string
		want string
	}{
		{"wrong kind", "apiVersion: v1\nkind: ConfigMap\nresources: []\n", "want apiserver.config.k8s.io/v1, EncryptionConfiguration"},
		{"no resources", header + "resources: []\n", "want exactly one entry"},
		{"configmaps", header + "resources:\n  - resources: [configmaps]\n    providers:\n      - identity: {}\n", "bosun encrypts only [secrets]"},
		{"no providers", header + "resources:\n  - resources: [secrets]\n    providers: []\n", "providers: empty"},
		{"aescbc", string(config("      - aescbc:\n          keys:\n            - name: k\n              secret: " + secret('a', 32) + "\n")), "provider aescbc is not supported"},
		{"kms", string(config("      - kms:\n          name: vault\n")), "provider kms is not supported"},
		{"unknown field", string(config("      - rot13: {}\n")), "unknown field"},
		{"empty provider", string(config("      - {}\n")), "no provider"},
		{"short aesgcm key", string(config(aesgcm(k{"k", 'a', 20}))), `providers[0].aesgcm.keys[0]: key "k": aesgcm secret is 20 bytes`},
		{"short secretbox key", string(config(secretboxKeys(k{"k", 'p', 16}))), "secretbox secret is 16 bytes, want 32"},
		{"not base64", strings.Replace(string(config(aesgcm(k{"k", 'a', 32}))), secret('a', 32), "not*base64", 1), "secret is not base64"},
		{"empty name", string(config(aesgcm(k{"", 'a', 32}))), "name is empty"},
		{"colon in name", string(config(aesgcm(k{"a:b", 'a', 32}))), "must not contain ':'"},
		{"duplicate name", string(config(aesgcm(k{"k", 'a', 32}, k{"k", 'b', 32}))), `aesgcm key "k" is listed twice`},
		{"no keys", string(config("      - aesgcm:\n          keys: []\n")), "aesgcm.keys: empty"},
		{"two providers in one item", string(config("      - identity: {}\n        aesgcm:\n          keys:\n            - name: k\n              secret: " + secret('a', 32) + "\n")), "identity and aesgcm in one entry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := encryption.Parse([]byte(tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error %v, want one containing %q\n%s", err, tc.want, tc.cfg)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"kind":"Secret"}`, "plaintext"},
		{"k8s:enc:aesgcm:v1:key1:xxxx", `aesgcm key "key1"`},
		{"k8s:enc:aesgcm", "an unreadable k8s:enc: prefix"},
	}
	for _, tc := range tests {
		if got := encryption.Describe([]byte(tc.in)); got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// BenchmarkTransform measures encrypting and decrypting a 1 KiB value with
// each provider, without etcd.
func BenchmarkTransform(b *testing.B) {
	value := bytes.Repeat([]byte{'x'}, 1024)
	for _, bc := range []struct {
		name string
		cfg  []byte
	}{
		{"aesgcm", config(aesgcm(k{"k1", 'a', 32}))},
		{"secretbox", config(secretboxKeys(k{"k1", 'p', 32}))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr, err := encryption.Parse(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(value)))
			for b.Loop() {
				stored, err := tr.ToStorage(etcdKey, value)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := tr.FromStorage(etcdKey, stored); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
