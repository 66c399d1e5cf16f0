// Package tokens keeps bosun's bootstrap tokens in etcd: the short-lived
// secrets with which a new machine joins the cluster (`bosun token create`,
// then `bosun agent --token ID.SECRET`), shaped like kubeadm's bootstrap
// tokens.
//
// A token is "ID.SECRET": 6 and 16 characters of [a-z0-9] from crypto/rand.
// The ID is public (it names the token in lists, logs and errors); the
// secret is shown once, at creation, and never stored: the record at
// Prefix+ID holds the SHA-256 of the secret, the description, the creation
// and expiry times, the number of uses left (-1 = no limit) and the kind:
// api.TokenKindNode (the default; records without a kind are node tokens)
// or api.TokenKindServer, which the control-plane join requires.
//
// Use checks a presented token: the secret (compared in constant time),
// the expiry, the uses left, and takes one use with a compare-and-swap on
// the record's revision, retried on conflict, so two joins racing for a
// token's last use cannot both get it. Every error names the token's ID,
// never its secret, and wraps one of the sentinels ErrMalformed,
// ErrUnknown, ErrSecretMismatch, ErrExpired or ErrUsedUp (ErrUnknown also
// matches api.ErrNotFound, ErrMalformed api.ErrInvalid). Check makes the
// same checks without taking a use.
//
// # Expired tokens
//
// An expired token is not deleted when it expires: it stays listed (its
// Expires is in the past) and Use refuses it with "expired at T", which
// tells the user more than "unknown". DeleteExpired removes tokens expired
// longer ago than a retention period; Run calls it periodically, as
// kube-controller-manager's token cleaner does. Used-up tokens stay until
// they expire or are deleted.
//
// # Usage
//
//	ts := tokens.New(st.Client(), nil) // nil clock: the real one
//	token, info, err := ts.Create(ctx, api.TokenRequest{Usages: 1, Description: "worker-2"})
//	// hand token to the joining machine; later, on its join request:
//	info, err = ts.Use(ctx, token) // errors.Is(err, tokens.ErrExpired), ...
//	go ts.Run(ctx, time.Minute, time.Hour) // drop tokens expired over an hour ago
package tokens
