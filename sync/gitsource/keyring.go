package gitsource

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Keyring holds the keys trusted to sign commits: OpenPGP public keys and
// OpenSSH allowed signers. The zero Keyring trusts nobody.
type Keyring struct {
	// OpenPGP are the trusted OpenPGP keys (see ReadKeyring).
	OpenPGP openpgp.EntityList
	// SSH are the allowed SSH signers (see ReadAllowedSigners).
	SSH []AllowedSigner
}

// Len returns the number of keys in the keyring.
func (k *Keyring) Len() int { return len(k.OpenPGP) + len(k.SSH) }

// ParseKeys reads one file's worth of keys, telling the format by content:
// armored OpenPGP public keys (a "-----BEGIN PGP" block, as "gpg --armor
// --export" writes them) or an OpenSSH allowed_signers file. Errors wrap
// ErrKeyring.
func ParseKeys(data []byte) (*Keyring, error) {
	if bytes.Contains(data, []byte("-----BEGIN PGP ")) {
		keys, err := ReadKeyring(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return &Keyring{OpenPGP: keys}, nil
	}
	signers, err := ReadAllowedSigners(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w (neither armored OpenPGP keys nor an allowed_signers file?)", err)
	}
	return &Keyring{SSH: signers}, nil
}

// LoadKeys reads the keyring that --verify-signatures names: a
// comma-separated list of files and directories. Each file holds armored
// OpenPGP keys or an OpenSSH allowed_signers file (see ParseKeys); a
// directory contributes every regular file in it whose name does not start
// with ".", in name order. Errors wrap ErrKeyring and name the file.
func LoadKeys(spec string) (*Keyring, error) {
	var all Keyring
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		files, err := keyFiles(p)
		if err != nil {
			return nil, fmt.Errorf("gitsource: keyring: %w: %w", ErrKeyring, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("gitsource: keyring: %w: %w", ErrKeyring, err)
			}
			k, err := ParseKeys(data)
			if err != nil {
				return nil, fmt.Errorf("%w (file %s)", err, f)
			}
			all.OpenPGP = append(all.OpenPGP, k.OpenPGP...)
			all.SSH = append(all.SSH, k.SSH...)
		}
	}
	if all.Len() == 0 {
		return nil, fmt.Errorf("gitsource: keyring: %w: %q names no key files", ErrKeyring, spec)
	}
	return &all, nil
}

// keyFiles returns p when it is a file, or the visible regular files of
// directory p in name order.
func keyFiles(p string) ([]string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		full := filepath.Join(p, e.Name())
		if fi, err := os.Stat(full); err == nil && fi.Mode().IsRegular() {
			files = append(files, full)
		}
	}
	sort.Strings(files)
	return files, nil
}
