package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/ProtonMail/go-crypto/openpgp"
	pgparmor "github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"

	"github.com/bosun-dev/bosun/manifests"
)

// dataKey recovers the file's data key with the first recipient stanza one
// of keys opens. When none does, the error wraps manifests.ErrNoKey and
// lists the recipients.
func dataKey(m *metadata, keys Keys) ([]byte, error) {
	var failures []string
	if len(keys.Age) > 0 {
		for _, a := range m.Age {
			k, err := ageDataKey(a, keys.Age)
			if err == nil {
				return k, nil
			}
			var nomatch *age.NoIdentityMatchError
			if !errors.As(err, &nomatch) {
				failures = append(failures, fmt.Sprintf("age recipient %s: %v", a.Recipient, err))
			}
		}
	}
	if len(keys.PGP) > 0 {
		for _, p := range m.PGP {
			k, err := pgpDataKey(p, keys.PGP)
			if err == nil {
				return k, nil
			}
			if !errors.Is(err, errNoPGPKey) {
				failures = append(failures, fmt.Sprintf("PGP key %s: %v", p.FP, err))
			}
		}
	}
	msg := fmt.Sprintf("encrypted for %s; none of the keys given matches", strings.Join(m.recipients(), ", "))
	if len(failures) > 0 {
		msg += " (" + strings.Join(failures, "; ") + ")"
	}
	if len(m.Age)+len(m.PGP) == 0 {
		msg += "; bosun decrypts age and PGP recipients only"
	}
	return nil, fmt.Errorf("%s: %w", msg, manifests.ErrNoKey)
}

// ageDataKey opens an age stanza (an armored age file holding the key).
func ageDataKey(a ageStanza, ids []age.Identity) ([]byte, error) {
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(a.Enc)), ids...)
	if err != nil {
		return nil, err
	}
	return readKey(r)
}

// errNoPGPKey is returned when no given PGP key is a recipient.
var errNoPGPKey = errors.New("no matching PGP key")

// pgpDataKey opens a PGP stanza (an armored PGP message holding the key).
func pgpDataKey(p pgpStanza, keyring openpgp.EntityList) ([]byte, error) {
	block, err := pgparmor.Decode(strings.NewReader(p.Enc))
	if err != nil {
		return nil, fmt.Errorf("enc: %w", err)
	}
	md, err := openpgp.ReadMessage(block.Body, keyring, nil, nil)
	if err != nil {
		if errors.Is(err, pgperrors.ErrKeyIncorrect) {
			return nil, errNoPGPKey
		}
		return nil, err
	}
	return readKey(md.UnverifiedBody)
}

// readKey reads a 32-byte data key.
func readKey(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if _, err := io.Copy(&b, io.LimitReader(r, 1024)); err != nil {
		return nil, fmt.Errorf("reading the data key: %w", err)
	}
	if b.Len() != 32 {
		return nil, fmt.Errorf("the data key has %d bytes, want 32", b.Len())
	}
	return b.Bytes(), nil
}
