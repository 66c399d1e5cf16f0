package gittest

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// SigningKey generates an OpenPGP key for name and email that signs
// commits (go-git's CommitOptions.SignKey). It is an Ed25519 key, fast to
// make.
func SigningKey(tb testing.TB, name, email string) *openpgp.Entity {
	tb.Helper()
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// ArmoredKeys returns the public keys of es, each an armored block followed
// by an empty line, as "gpg --armor --export" writes them into a keyring
// file.
func ArmoredKeys(tb testing.TB, es ...*openpgp.Entity) string {
	tb.Helper()
	var b bytes.Buffer
	for _, e := range es {
		w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
		if err != nil {
			tb.Fatal(err)
		}
		if err := e.Serialize(w); err != nil {
			tb.Fatal(err)
		}
		if err := w.Close(); err != nil {
			tb.Fatal(err)
		}
		b.WriteString("\n")
	}
	return b.String()
}
