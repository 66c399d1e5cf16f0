// Package encryption encrypts Secrets at rest in the form kube-apiserver
// writes: a key file in Kubernetes' EncryptionConfiguration format names the
// providers (aesgcm, secretbox, identity) and their keys, and a Transformer
// turns a Secret's JSON into a stored value and back.
//
// A stored value starts with a prefix naming the provider and the key, then
// the nonce and the sealed data:
//
//	k8s:enc:aesgcm:v1:<key name>:<12-byte nonce><ciphertext and 16-byte tag>
//	k8s:enc:secretbox:v1:<key name>:<24-byte nonce><ciphertext and 16-byte tag>
//
// AES-GCM authenticates the etcd key as additional data, as kube-apiserver
// does, so a value copied under another key does not decrypt. Values without
// the "k8s:enc:" prefix are plaintext (written before encryption was turned
// on) and are always read as they are.
//
// The first key of the first provider encrypts every write (identity first
// means writes stay plaintext); every key listed decrypts. Rotation is
// therefore: add the new key at the top, restart, rewrite all Secrets, remove
// the old key.
//
// # Example
//
//	t, err := encryption.Load("/etc/bosun/encryption.yaml")
//	if err != nil {
//		return err
//	}
//	stored, err := t.ToStorage("/registry/secrets/prod/db", plainJSON)
//	plain, stale, err := t.FromStorage("/registry/secrets/prod/db", stored)
//	// stale is true when the value was not written with t's write key.
package encryption
