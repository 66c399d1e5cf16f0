package store

import (
	"bytes"
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store/encryption"
)

// ValueTransformer turns the JSON of a Secret into its stored form and back.
// encryption.Transformer is the implementation; the Store calls it for the
// secrets resource only, with the object's etcd key.
type ValueTransformer interface {
	// ToStorage returns the value to write at storageKey for plain.
	ToStorage(storageKey string, plain []byte) ([]byte, error)
	// FromStorage returns the plain JSON of a value read at storageKey, and
	// whether it is stale (not written with the current key, so a rewrite
	// would change it). It fails, returning no data, when the value cannot be
	// decrypted.
	FromStorage(storageKey string, stored []byte) (plain []byte, stale bool, err error)
}

// encrypted says whether the values of r go through the Secrets transformer.
func encrypted(r api.Resource) bool { return r.Group == "" && r.Name == "secrets" }

// encode returns the stored form of obj at key: its JSON (encodeJSON),
// encrypted for Secrets when the store has a transformer. Every write of an
// object goes through it.
func (s *Store) encode(r api.Resource, key string, obj api.Object) ([]byte, error) {
	data, err := encodeJSON(r, obj)
	if err != nil || !encrypted(r) || s.secrets == nil {
		return data, err
	}
	out, err := s.secrets.ToStorage(key, data)
	if err != nil {
		return nil, fmt.Errorf("store: encode %s %s: %w", r.Kind, key, err)
	}
	return out, nil
}

// decode fills into from a value stored at key (decrypting Secrets) and sets
// its resourceVersion to rev. Every read of an object goes through it.
func (s *Store) decode(r api.Resource, key string, value []byte, rev int64, into api.Object) error {
	plain, _, err := s.plain(r, key, value)
	if err != nil {
		return err
	}
	return decodeJSON(r, key, plain, rev, into)
}

// plain returns the JSON of a value stored at key and whether it is stale.
func (s *Store) plain(r api.Resource, key string, value []byte) ([]byte, bool, error) {
	if !encrypted(r) {
		return value, false, nil
	}
	if s.secrets == nil {
		if bytes.HasPrefix(value, []byte(encryption.Prefix)) {
			return nil, false, fmt.Errorf("store: decode %s at %s: %w: it is encrypted with %s and this server has no key file (--secrets-encryption-key-file)",
				r.Kind, key, encryption.ErrDecrypt, encryption.Describe(value))
		}
		return value, false, nil
	}
	plain, stale, err := s.secrets.FromStorage(key, value)
	if err != nil {
		return nil, false, fmt.Errorf("store: decode %s at %s: %w", r.Kind, key, err)
	}
	return plain, stale, nil
}

// RewriteResult counts what RewriteSecrets did.
type RewriteResult struct {
	// Checked is the number of Secrets read.
	Checked int
	// Rewritten is the number written again with the current key.
	Rewritten int
}

// RewriteSecrets writes every Secret that is not stored with the current
// write key (plaintext, or an older key) again, unchanged but for its stored
// form, so that the older key can be removed from the key file. Each write is
// a compare-and-swap on the Secret's mod revision: a Secret written in
// between is left alone, since that write used the current key. It is
// idempotent: a second run rewrites nothing. A Secret that cannot be
// decrypted stops the rewrite with an error naming it and its key.
func (s *Store) RewriteSecrets(ctx context.Context) (RewriteResult, error) {
	var res RewriteResult
	r, ok := api.Lookup("secrets")
	if !ok {
		return res, fmt.Errorf("store: rewrite secrets: %w: no secrets resource", api.ErrNotFound)
	}
	prefix := s.keyPrefix(r, "")
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	for {
		resp, err := s.c.Get(ctx, from, clientv3.WithRange(end), clientv3.WithLimit(listPage))
		if err != nil {
			return res, mapErr("rewrite secrets: list "+prefix, err)
		}
		for _, kv := range resp.Kvs {
			res.Checked++
			done, err := s.rewriteSecret(ctx, r, string(kv.Key), kv.Value, kv.ModRevision)
			if err != nil {
				return res, fmt.Errorf("store: rewrite secrets: %w", err)
			}
			if done {
				res.Rewritten++
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return res, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// rewriteSecret writes one stale Secret again with the current key; it says
// whether it wrote.
func (s *Store) rewriteSecret(ctx context.Context, r api.Resource, key string, value []byte, rev int64) (bool, error) {
	plain, stale, err := s.plain(r, key, value)
	if err != nil || !stale {
		return false, err
	}
	out, err := s.secrets.ToStorage(key, plain)
	if err != nil {
		return false, fmt.Errorf("encode %s: %w", key, err)
	}
	resp, err := s.c.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(out))).
		Commit()
	if err != nil {
		return false, mapErr("rewrite "+key, err)
	}
	if !resp.Succeeded {
		s.log.Info("a Secret changed during the rewrite; its new value already uses the current key", "key", key)
		return false, nil
	}
	return true, nil
}
