package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Errors returned (wrapped) by Commit.Verify. Check them with errors.Is.
var (
	// ErrUnsigned means the commit carries no signature.
	ErrUnsigned = errors.New("commit is not signed")
	// ErrUnknownKey means the commit is signed by a key that is not in the keyring.
	ErrUnknownKey = errors.New("signed by a key not in the keyring")
	// ErrBadSignature means the signature does not verify: the commit was changed
	// after signing, the signature is malformed or of an unsupported kind
	// (X.509, several signatures), or the key is expired or revoked (for SSH:
	// outside its allowed_signers valid-after/valid-before, or not allowed the
	// "git" namespace).
	ErrBadSignature = errors.New("bad signature")
	// ErrKeyring is returned by ReadKeyring and LoadKeyring for a keyring that
	// cannot be used.
	ErrKeyring = errors.New("unusable keyring")
)

const pgpSignatureHeader = "-----BEGIN PGP SIGNATURE-----"

// Signer describes who signed a commit, as far as Verify could tell.
type Signer struct {
	// Identity is the primary user ID of the signing key ("Alice <alice@example.com>"),
	// or for an SSH key the principals of its allowed_signers line; empty when
	// the key is unknown.
	Identity string
	// KeyID is the 16-hex-digit ID of the key that made the signature (a signing
	// subkey's ID when a subkey signed), upper case, or an SSH key's SHA256
	// fingerprint ("SHA256:..."); empty for unsigned commits.
	KeyID string
	// Fingerprint is the primary key's fingerprint, upper-case hex (an SSH
	// key's SHA256 fingerprint); empty when the key is unknown.
	Fingerprint string
}

// String returns "Alice <alice@example.com> (key 0123456789ABCDEF)", or just
// the key when the identity is unknown.
func (s Signer) String() string {
	switch {
	case s.Identity != "" && s.KeyID != "":
		return fmt.Sprintf("%s (key %s)", s.Identity, s.KeyID)
	case s.KeyID != "":
		return "key " + s.KeyID
	default:
		return s.Identity
	}
}

// ReadKeyring parses armored OpenPGP public keys (one or more "PGP PUBLIC KEY
// BLOCK"s, as "gpg --armor --export" writes them). It fails, wrapping
// ErrKeyring, when the input cannot be parsed or holds no key that can sign.
func ReadKeyring(r io.Reader) (openpgp.EntityList, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("gitsource: read keyring: %w: %w", ErrKeyring, err)
	}
	var keys openpgp.EntityList
	rest := data
	for len(bytes.TrimSpace(rest)) > 0 {
		i := bytes.Index(rest, []byte("-----BEGIN PGP "))
		if i < 0 {
			if len(keys) == 0 {
				return nil, fmt.Errorf("gitsource: keyring: %w: no armored key block (\"-----BEGIN PGP PUBLIC KEY BLOCK-----\"); export keys with gpg --armor --export", ErrKeyring)
			}
			break
		}
		end := bytes.Index(rest[i:], []byte("-----END PGP "))
		if end < 0 {
			return nil, fmt.Errorf("gitsource: keyring: %w: armored block without an END line", ErrKeyring)
		}
		stop := i + end + len("-----END PGP ")
		if nl := bytes.IndexByte(rest[stop:], '\n'); nl >= 0 {
			stop += nl + 1
		} else {
			stop = len(rest)
		}
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(rest[i:stop]))
		if err != nil {
			return nil, fmt.Errorf("gitsource: keyring: %w: key block %d: %w", ErrKeyring, len(keys)+1, err)
		}
		keys = append(keys, el...)
		rest = rest[stop:]
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("gitsource: keyring: %w: it holds no keys", ErrKeyring)
	}
	return keys, nil
}

// LoadKeyring reads the armored public keys of the file at path (see ReadKeyring).
func LoadKeyring(path string) (openpgp.EntityList, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gitsource: keyring: %w: %w", ErrKeyring, err)
	}
	defer f.Close()
	keys, err := ReadKeyring(f)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return keys, nil
}

// Signed reports whether the commit carries a signature.
func (c Commit) Signed() bool { return c.Signature != "" }

// Verify checks the commit's OpenPGP signature against keyring; it is
// VerifyKeys with a Keyring of OpenPGP keys only.
func (c Commit) Verify(keyring openpgp.EntityList, now time.Time) (Signer, error) {
	return c.VerifyKeys(&Keyring{OpenPGP: keyring}, now)
}

// VerifyKeys checks the commit's signature, OpenPGP or SSH (git's gpg.format
// ssh), against keys, with key expiry, revocation and an allowed signer's
// valid-after/valid-before judged at now. On success it returns the signer:
// for SSH the allowed_signers principals as Identity and the key's SHA256
// fingerprint ("SHA256:...") as KeyID and Fingerprint. Otherwise the error
// wraps ErrUnsigned, ErrUnknownKey (the Signer then holds the key ID: the
// OpenPGP issuer or the SSH key's fingerprint) or ErrBadSignature.
//
// Only Commits returned by a Source can be verified: the signed payload is
// kept from the repository's commit object.
func (c Commit) VerifyKeys(keys *Keyring, now time.Time) (Signer, error) {
	if c.Signature == "" {
		return Signer{}, fmt.Errorf("gitsource: commit %s: %w", short(c.SHA), ErrUnsigned)
	}
	if keys == nil {
		keys = &Keyring{}
	}
	sig := strings.TrimSpace(c.Signature)
	var kind func(*Keyring, time.Time) (Signer, error)
	switch {
	case strings.HasPrefix(sig, pgpSignatureHeader):
		kind = c.verifyPGP
	case strings.HasPrefix(sig, sshSignatureHeader):
		kind = c.verifySSHKeys
	default:
		first, _, _ := strings.Cut(sig, "\n")
		return Signer{}, fmt.Errorf("gitsource: commit %s: %w: not an OpenPGP or SSH signature (%s)",
			short(c.SHA), ErrBadSignature, strings.Trim(first, "- "))
	}
	if strings.Count(c.Signature, "-----BEGIN ") > 1 {
		return Signer{}, fmt.Errorf("gitsource: commit %s: %w: it carries several signatures", short(c.SHA), ErrBadSignature)
	}
	if c.signedPayload == nil {
		return Signer{}, fmt.Errorf("gitsource: commit %s: %w: the signed content is not available", short(c.SHA), ErrBadSignature)
	}
	return kind(keys, now)
}

// verifySSHKeys is verifySSH with the keyring's allowed signers.
func (c Commit) verifySSHKeys(keys *Keyring, now time.Time) (Signer, error) {
	return c.verifySSH(keys.SSH, now)
}

// verifyPGP checks c's armored OpenPGP signature against the keyring's OpenPGP keys.
func (c Commit) verifyPGP(keys *Keyring, now time.Time) (Signer, error) {
	issuer, err := signatureIssuer(c.Signature)
	if err != nil {
		return Signer{}, fmt.Errorf("gitsource: commit %s: %w: %w", short(c.SHA), ErrBadSignature, err)
	}
	who := Signer{KeyID: issuer}
	cfg := &packet.Config{Time: func() time.Time { return now }}
	entity, err := openpgp.CheckArmoredDetachedSignature(keys.OpenPGP, bytes.NewReader(c.signedPayload), strings.NewReader(c.Signature), cfg)
	if entity != nil {
		who.Identity = identity(entity)
		who.Fingerprint = fmt.Sprintf("%X", entity.PrimaryKey.Fingerprint)
	}
	switch {
	case err == nil:
		return who, nil
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return who, fmt.Errorf("gitsource: commit %s: %w %s", short(c.SHA), ErrUnknownKey, issuer)
	default:
		return who, fmt.Errorf("gitsource: commit %s: %w by key %s: %w", short(c.SHA), ErrBadSignature, issuer, err)
	}
}

// signatureIssuer returns the key ID, upper-case hex, of the armored signature.
func signatureIssuer(armored string) (string, error) {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return "", fmt.Errorf("decode armor: %w", err)
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return "", fmt.Errorf("read signature packet: %w", err)
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return "", fmt.Errorf("not a signature packet (%T)", p)
	}
	switch {
	case sig.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *sig.IssuerKeyId), nil
	case len(sig.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", sig.IssuerFingerprint), nil
	default:
		return "", errors.New("the signature names no issuer key")
	}
}

// identity returns the primary user ID of e, or its fingerprint when it has none.
func identity(e *openpgp.Entity) string {
	if id := e.PrimaryIdentity(); id != nil {
		return id.Name
	}
	return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
}

func short(sha string) string {
	if len(sha) > 8 {
		return sha[:8]
	}
	return sha
}
