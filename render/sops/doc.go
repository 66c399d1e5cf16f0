// Package sops decrypts files encrypted with SOPS (https://getsops.io) for
// bosun: YAML, JSON and dotenv files whose data key is encrypted for age
// recipients or PGP keys. It implements manifests.Decrypter.
//
// # Why a decoder of the format and not the SOPS library
//
// The SOPS Go module (github.com/getsops/sops/v3) reaches its age and PGP
// code only through its key service, which links every KMS it supports. A
// throwaway module importing only its decrypt package (v3.13.3) builds
// 813 non-standard packages from 123 modules (the AWS, GCP, Azure,
// HashiCorp Vault and HuaweiCloud SDKs, gRPC, logrus, ...), 341 modules in
// its build list, and a program doing nothing but decrypt.File is 44.2 MB
// (stripped, -trimpath); the same decryption with age, go-crypto and
// yaml.v3 is 62 packages and 4.4 MB. This package adds 58 packages from filippo.io/age (with
// filippo.io/hpke) and github.com/ProtonMail/go-crypto, which bosun
// already uses, to what manifests needs; its format code follows SOPS's
// stores and aes cipher, and its tests decrypt files written by the real
// SOPS library (testdata/interop) and were checked the other way round.
//
// # The format
//
// Every value is encrypted on its own with AES-256-GCM under a random
// 32-byte data key, as ENC[AES256_GCM,data:...,iv:...,tag:...,type:...],
// with the key path joined by ":" (plus a trailing ":") as additional data.
// The rules unencrypted_suffix (the default, "_unencrypted"),
// encrypted_suffix, unencrypted_regex and encrypted_regex select the
// values by the keys on their path; empty strings and nulls stay as they
// are. The MAC is the SHA-512 (upper-case hex) of the plaintext of every
// value (of the encrypted ones only with mac_only_encrypted), encrypted
// with the data key and lastmodified as additional data. The data key is
// stored under sops: once per recipient (an armored age file, or an
// armored PGP message). Key groups (Shamir), the comment rules and the
// KMS recipients are not supported: such files are refused clearly, or
// reported as having no usable key.
//
// # Use
//
//	ids, err := sops.LoadAgeIdentities("/etc/bosun/age.key")
//	...
//	d := sops.New(sops.Keys{Age: ids})
//	if d.Encrypted(file, data) {
//		plain, err := d.Decrypt(file, data) // same lines; metadata blanked
//	}
//
// Decrypt keeps the file's lines: every encrypted value is replaced on its
// line (a double-quoted one-line string, or a number or boolean for those
// types), encrypted comments are left as they are, and the sops metadata's
// lines become empty, so problems found in the plaintext name lines of
// the encrypted file. Errors never contain plaintext.
//
// Encrypt writes files in the same format for tests and fixtures; users
// encrypt with the sops CLI.
package sops
