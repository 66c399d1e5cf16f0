package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/encryption"
)

// loadSecretsEncryption reads the key file of --secrets-encryption-key-file;
// "" means no encryption (a nil transformer). It warns when others than the
// owner can read the file.
func loadSecretsEncryption(path string, logger *slog.Logger) (store.ValueTransformer, error) {
	if path == "" {
		return nil, nil
	}
	t, err := encryption.Load(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("the Secrets encryption key file is readable by other users: chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
	logger.Info("Secrets are encrypted at rest", "file", path, "write_key", t.WriteKey())
	return t, nil
}

// rewriteSecrets writes every Secret not stored with the current key again
// and logs how many it rewrote.
func rewriteSecrets(ctx context.Context, st *store.Store, logger *slog.Logger) error {
	res, err := st.RewriteSecrets(ctx)
	if err != nil {
		return err
	}
	logger.Info("Secrets rewritten with the current encryption key", "checked", res.Checked, "rewritten", res.Rewritten)
	return nil
}
