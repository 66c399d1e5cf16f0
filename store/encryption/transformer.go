package encryption

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
)

// Prefix starts every encrypted value; a value without it is plaintext.
const Prefix = "k8s:enc:"

// Sizes of the nonces, as kube-apiserver writes them.
const (
	gcmNonceSize       = 12
	secretboxNonceSize = 24
	secretboxKeySize   = 32
)

// ErrDecrypt is wrapped by FromStorage's errors for values that cannot be
// decrypted: a key the Transformer does not have, a wrong key, tampered data.
var ErrDecrypt = errors.New("cannot decrypt")

// key is one named key of one provider.
type key struct {
	provider string
	name     string
	prefix   []byte // "k8s:enc:<provider>:v1:<name>:"
	gcm      cipher.AEAD
	box      *[secretboxKeySize]byte
}

// newSealer makes the key of provider from its secret bytes.
func newSealer(provider, name string, secret []byte) (*key, error) {
	k := &key{provider: provider, name: name, prefix: []byte(Prefix + provider + ":v1:" + name + ":")}
	switch provider {
	case AESGCM:
		if n := len(secret); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("key %q: aesgcm secret is %d bytes, want 16, 24 or 32", name, n)
		}
		block, err := aes.NewCipher(secret)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", name, err)
		}
		if k.gcm, err = cipher.NewGCM(block); err != nil {
			return nil, fmt.Errorf("key %q: %w", name, err)
		}
	case Secretbox:
		if len(secret) != secretboxKeySize {
			return nil, fmt.Errorf("key %q: secretbox secret is %d bytes, want 32", name, len(secret))
		}
		k.box = new([secretboxKeySize]byte)
		copy(k.box[:], secret)
	default:
		return nil, fmt.Errorf("key %q: unknown provider %q", name, provider)
	}
	return k, nil
}

// String names the key as "provider key "name"" for messages.
func (k *key) String() string { return fmt.Sprintf("%s key %q", k.provider, k.name) }

// seal returns prefix, nonce and the sealed plain; aad (the etcd key) is
// authenticated by AES-GCM (secretbox has no additional data).
func (k *key) seal(plain, aad []byte) ([]byte, error) {
	if k.gcm != nil {
		out := make([]byte, len(k.prefix)+gcmNonceSize, len(k.prefix)+gcmNonceSize+len(plain)+k.gcm.Overhead())
		copy(out, k.prefix)
		nonce := out[len(k.prefix):]
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("%s: nonce: %w", k, err)
		}
		return k.gcm.Seal(out, nonce, plain, aad), nil
	}
	var nonce [secretboxNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("%s: nonce: %w", k, err)
	}
	out := make([]byte, 0, len(k.prefix)+secretboxNonceSize+len(plain)+secretbox.Overhead)
	out = append(append(out, k.prefix...), nonce[:]...)
	return secretbox.Seal(out, plain, &nonce, k.box), nil
}

// open reverses seal for data without the prefix.
func (k *key) open(data, aad []byte) ([]byte, error) {
	if k.gcm != nil {
		if len(data) < gcmNonceSize+k.gcm.Overhead() {
			return nil, fmt.Errorf("decrypt with %s: %w: value is %d bytes, too short", k, ErrDecrypt, len(data))
		}
		plain, err := k.gcm.Open(nil, data[:gcmNonceSize], data[gcmNonceSize:], aad)
		if err != nil {
			return nil, fmt.Errorf("decrypt with %s: %w: wrong key or tampered value (%w)", k, ErrDecrypt, err)
		}
		return plain, nil
	}
	if len(data) < secretboxNonceSize+secretbox.Overhead {
		return nil, fmt.Errorf("decrypt with %s: %w: value is %d bytes, too short", k, ErrDecrypt, len(data))
	}
	var nonce [secretboxNonceSize]byte
	copy(nonce[:], data)
	plain, ok := secretbox.Open(nil, data[secretboxNonceSize:], &nonce, k.box)
	if !ok {
		return nil, fmt.Errorf("decrypt with %s: %w: wrong key or tampered value", k, ErrDecrypt)
	}
	return plain, nil
}

// Transformer encrypts values with its write key and decrypts values written
// with any of its keys. It is safe for concurrent use. Make one with Parse or
// Load.
type Transformer struct {
	write *key   // nil: identity writes (plaintext)
	keys  []*key // every key, in file order
}

// add appends keys; the first key of the first provider becomes the write key.
func (t *Transformer) add(field string, keys []*key, first bool) error {
	for _, k := range keys {
		for _, o := range t.keys {
			if o.provider == k.provider && o.name == k.name {
				return fmt.Errorf("%s: %s is listed twice", field, k)
			}
		}
		t.keys = append(t.keys, k)
	}
	if first && len(keys) > 0 {
		t.write = keys[0]
	}
	return nil
}

// WriteKey names what encrypts writes: "aesgcm:NAME", "secretbox:NAME", or
// "identity" when writes stay plaintext.
func (t *Transformer) WriteKey() string {
	if t.write == nil {
		return Identity
	}
	return t.write.provider + ":" + t.write.name
}

// ToStorage returns the stored form of plain, to be written at etcd key
// storageKey: encrypted with the write key, or plain itself for identity.
func (t *Transformer) ToStorage(storageKey string, plain []byte) ([]byte, error) {
	if t.write == nil {
		return plain, nil
	}
	out, err := t.write.seal(plain, []byte(storageKey))
	if err != nil {
		return nil, fmt.Errorf("encryption: encrypt %s: %w", storageKey, err)
	}
	return out, nil
}

// FromStorage returns the plain form of a value read at etcd key storageKey,
// and stale = true when the value is not in the form ToStorage writes now
// (plaintext under an encrypting Transformer, or another key): rewriting it
// brings it up to date. A value naming a key the Transformer does not have,
// or failing authentication, is an error wrapping ErrDecrypt that names the
// provider and key; no plaintext is returned then.
func (t *Transformer) FromStorage(storageKey string, stored []byte) (plain []byte, stale bool, err error) {
	if !bytes.HasPrefix(stored, []byte(Prefix)) {
		return stored, t.write != nil, nil
	}
	for _, k := range t.keys {
		if bytes.HasPrefix(stored, k.prefix) {
			plain, err := k.open(stored[len(k.prefix):], []byte(storageKey))
			if err != nil {
				return nil, false, fmt.Errorf("encryption: %s: %w", storageKey, err)
			}
			return plain, k != t.write, nil
		}
	}
	return nil, false, fmt.Errorf("encryption: %s: %w: written with %s, which the key file does not list",
		storageKey, ErrDecrypt, Describe(stored))
}

// Describe names the provider and key of an encrypted value from its prefix
// ("aesgcm key "key1""), or says "plaintext"; it never returns the value.
func Describe(stored []byte) string {
	if !bytes.HasPrefix(stored, []byte(Prefix)) {
		return "plaintext"
	}
	rest := stored[len(Prefix):]
	parts := bytes.SplitN(rest, []byte(":"), 4) // provider, version, name, data
	if len(parts) < 4 {
		return "an unreadable k8s:enc: prefix"
	}
	return fmt.Sprintf("%s key %q", parts[0], parts[2])
}
