package gitsource

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	sshSignatureHeader = "-----BEGIN SSH SIGNATURE-----"
	sshSignatureFooter = "-----END SSH SIGNATURE-----"
	// sshsigMagic opens both the SSHSIG blob and the data it signs (PROTOCOL.sshsig).
	sshsigMagic = "SSHSIG"
	// gitNamespace is the namespace git signs commits in.
	gitNamespace = "git"
)

// AllowedSigner is one line of an OpenSSH allowed_signers file (see
// ssh-keygen(1), "ALLOWED SIGNERS"): who may sign, with which key, in which
// namespaces and when.
type AllowedSigner struct {
	// Principals is the first field as written ("alice@example.com" or a
	// comma-separated list of patterns); Verify reports it as the signer.
	Principals string
	// Key is the public key.
	Key ssh.PublicKey
	// Namespaces are the namespaces= patterns; empty means any namespace.
	Namespaces []string
	// ValidAfter and ValidBefore bound when the key is trusted; zero means unbounded.
	ValidAfter, ValidBefore time.Time
}

// ReadAllowedSigners parses an OpenSSH allowed_signers file: per line the
// principals, optional options (namespaces="...", valid-after=...,
// valid-before=...) and the public key; blank lines and "#" comments are
// skipped. Times are YYYYMMDD[HHMM[SS]] with an optional "Z" (UTC; local
// time otherwise). cert-authority lines are refused: certificates are not
// supported. Errors wrap ErrKeyring and name the line.
func ReadAllowedSigners(r io.Reader) ([]AllowedSigner, error) {
	var signers []AllowedSigner
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseAllowedSigner(line)
		if err != nil {
			return nil, fmt.Errorf("gitsource: allowed signers: %w: line %d: %w", ErrKeyring, n, err)
		}
		signers = append(signers, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gitsource: allowed signers: %w: %w", ErrKeyring, err)
	}
	if len(signers) == 0 {
		return nil, fmt.Errorf("gitsource: allowed signers: %w: it holds no keys", ErrKeyring)
	}
	return signers, nil
}

// parseAllowedSigner parses one non-comment line of an allowed_signers file.
func parseAllowedSigner(line string) (AllowedSigner, error) {
	principals, rest := cutField(line)
	if rest == "" {
		return AllowedSigner{}, errors.New("no key after the principals")
	}
	// What follows the principals is an authorized_keys line: options, key, comment.
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return AllowedSigner{}, fmt.Errorf("principals %s: %w", principals, err)
	}
	s := AllowedSigner{Principals: strings.Trim(principals, `"`), Key: key}
	for _, opt := range options {
		name, value, _ := strings.Cut(opt, "=")
		value = strings.Trim(value, `"`)
		switch strings.ToLower(name) {
		case "namespaces":
			s.Namespaces = strings.Split(value, ",")
		case "valid-after":
			s.ValidAfter, err = parseSignerTime(value)
		case "valid-before":
			s.ValidBefore, err = parseSignerTime(value)
		case "cert-authority":
			err = errors.New("cert-authority: certificate signers are not supported; list the signing keys themselves")
		default:
			err = fmt.Errorf("unknown option %q", name)
		}
		if err != nil {
			return AllowedSigner{}, fmt.Errorf("principals %s: %w", s.Principals, err)
		}
	}
	return s, nil
}

// cutField splits off the first whitespace-separated field, which may be
// double-quoted.
func cutField(line string) (field, rest string) {
	inQuote := false
	for i, r := range line {
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && (r == ' ' || r == '\t'):
			return line[:i], strings.TrimSpace(line[i:])
		}
	}
	return line, ""
}

// parseSignerTime parses ssh-keygen's YYYYMMDD[HHMM[SS]][Z] timestamps.
func parseSignerTime(v string) (time.Time, error) {
	loc := time.Local
	if s, ok := strings.CutSuffix(v, "Z"); ok {
		v, loc = s, time.UTC
	}
	layouts := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}
	layout, ok := layouts[len(v)]
	if !ok {
		return time.Time{}, fmt.Errorf("time %q: want YYYYMMDD[HHMM[SS]][Z]", v)
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", v, err)
	}
	return t, nil
}

// allows reports whether the signer may sign in namespace ns, following
// OpenSSH's pattern lists: "*" and "?" wildcards, "!" negates.
func (a AllowedSigner) allows(ns string) bool {
	if len(a.Namespaces) == 0 {
		return true
	}
	ok := false
	for _, p := range a.Namespaces {
		neg := strings.HasPrefix(p, "!")
		if m, _ := path.Match(strings.TrimPrefix(p, "!"), ns); m {
			if neg {
				return false
			}
			ok = true
		}
	}
	return ok
}

// sshsig is the decoded SSHSIG blob after its magic (PROTOCOL.sshsig).
type sshsig struct {
	Version       uint32
	PublicKey     []byte
	Namespace     string
	Reserved      []byte
	HashAlgorithm string
	Signature     []byte
}

// signedData is what an SSHSIG signature signs over a message whose digest is sum.
type signedData struct {
	Namespace     string
	Reserved      []byte
	HashAlgorithm string
	Hash          []byte
}

// parseSSHSignature decodes an armored SSH signature into its blob and the
// signing key.
func parseSSHSignature(armored string) (sshsig, ssh.PublicKey, error) {
	body := strings.TrimSpace(armored)
	body, ok := strings.CutPrefix(body, sshSignatureHeader)
	if !ok {
		return sshsig{}, nil, errors.New("no " + sshSignatureHeader + " line")
	}
	body, ok = strings.CutSuffix(strings.TrimSpace(body), sshSignatureFooter)
	if !ok {
		return sshsig{}, nil, errors.New("no " + sshSignatureFooter + " line")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return sshsig{}, nil, fmt.Errorf("decode base64: %w", err)
	}
	rest, ok := bytes.CutPrefix(raw, []byte(sshsigMagic))
	if !ok {
		return sshsig{}, nil, errors.New("no SSHSIG magic")
	}
	var sig sshsig
	if err := ssh.Unmarshal(rest, &sig); err != nil {
		return sshsig{}, nil, fmt.Errorf("decode SSHSIG blob: %w", err)
	}
	if sig.Version != 1 {
		return sshsig{}, nil, fmt.Errorf("SSHSIG version %d, want 1", sig.Version)
	}
	key, err := ssh.ParsePublicKey(sig.PublicKey)
	if err != nil {
		return sshsig{}, nil, fmt.Errorf("signature's public key: %w", err)
	}
	return sig, key, nil
}

// checkSSHSIG verifies sig, made by key, over message in the git namespace.
func checkSSHSIG(sig sshsig, key ssh.PublicKey, message []byte) error {
	if sig.Namespace != gitNamespace {
		return fmt.Errorf("namespace %q, want %q", sig.Namespace, gitNamespace)
	}
	var h hash.Hash
	switch sig.HashAlgorithm {
	case "sha256":
		h = sha256.New()
	case "sha512":
		h = sha512.New()
	default:
		return fmt.Errorf("unsupported hash algorithm %q", sig.HashAlgorithm)
	}
	h.Write(message)
	var s ssh.Signature
	if err := ssh.Unmarshal(sig.Signature, &s); err != nil {
		return fmt.Errorf("decode signature: %w", err)
	}
	if s.Format == ssh.KeyAlgoRSA {
		return errors.New("RSA signature with SHA-1 (ssh-rsa); SSHSIG needs rsa-sha2-256 or rsa-sha2-512")
	}
	data := append([]byte(sshsigMagic), ssh.Marshal(signedData{
		Namespace: sig.Namespace, Reserved: sig.Reserved, HashAlgorithm: sig.HashAlgorithm, Hash: h.Sum(nil),
	})...)
	return key.Verify(data, &s)
}

// verifySSH checks c's SSH signature against the allowed signers at now.
func (c Commit) verifySSH(signers []AllowedSigner, now time.Time) (Signer, error) {
	sig, key, err := parseSSHSignature(c.Signature)
	if err != nil {
		return Signer{}, fmt.Errorf("gitsource: commit %s: %w: %w", short(c.SHA), ErrBadSignature, err)
	}
	fp := ssh.FingerprintSHA256(key)
	who := Signer{KeyID: fp}
	allowed, err := findSigner(signers, key, now)
	if errors.Is(err, ErrUnknownKey) {
		return who, fmt.Errorf("gitsource: commit %s: %w %s", short(c.SHA), ErrUnknownKey, fp)
	}
	who.Identity, who.Fingerprint = allowed.Principals, fp
	if err != nil {
		return who, fmt.Errorf("gitsource: commit %s: %w by key %s: %w", short(c.SHA), ErrBadSignature, fp, err)
	}
	if err := checkSSHSIG(sig, key, c.signedPayload); err != nil {
		return who, fmt.Errorf("gitsource: commit %s: %w by key %s: %w", short(c.SHA), ErrBadSignature, fp, err)
	}
	return who, nil
}

// findSigner returns the allowed signer listing key that may sign in git's
// namespace at now. When key is listed but no line allows it, it returns the
// first such line and why; when key is not listed, an error wrapping ErrUnknownKey.
func findSigner(signers []AllowedSigner, key ssh.PublicKey, now time.Time) (AllowedSigner, error) {
	want := key.Marshal()
	var (
		first    AllowedSigner
		firstErr error
	)
	for _, s := range signers {
		if !bytes.Equal(s.Key.Marshal(), want) {
			continue
		}
		err := s.validAt(now)
		if err == nil && !s.allows(gitNamespace) {
			err = fmt.Errorf("allowed signers do not allow namespace %q for %s", gitNamespace, s.Principals)
		}
		if err == nil {
			return s, nil
		}
		if firstErr == nil {
			first, firstErr = s, err
		}
	}
	if firstErr != nil {
		return first, firstErr
	}
	return AllowedSigner{}, ErrUnknownKey
}

// validAt says why the signer's key is not trusted at now, if it is not.
func (a AllowedSigner) validAt(now time.Time) error {
	const layout = "2006-01-02 15:04:05 MST"
	switch {
	case !a.ValidAfter.IsZero() && now.Before(a.ValidAfter):
		return fmt.Errorf("key of %s is not valid before %s (valid-after)", a.Principals, a.ValidAfter.Format(layout))
	case !a.ValidBefore.IsZero() && !now.Before(a.ValidBefore):
		return fmt.Errorf("key of %s expired at %s (valid-before)", a.Principals, a.ValidBefore.Format(layout))
	}
	return nil
}
