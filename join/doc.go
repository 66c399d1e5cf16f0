// Package join is the agent's side of joining a cluster, as kubeadm join
// does it: with a bootstrap token and the CA's public key pin
// (--ca-cert-hash), it obtains a node certificate ("system:node:NAME",
// group system:nodes) and stores it; a restarted agent loads it and needs
// no token.
//
// Join fetches the cluster CA from api.PathClusterInfo without verifying
// the server (nothing secret is sent in that request), checks it against
// the hash, and refuses to go on when it differs. It then trusts only that
// CA and POSTs api.JoinRequest to api.PathJoin with the token as bearer
// token and a signing request for a key made on this machine (the key
// never leaves it). The server's refusals come back as errors naming the
// reason: ErrTokenRejected (401: unknown, expired, used up), api.ErrConflict
// (409: the name is held by another machine), api.ErrInvalid (400). The
// credential is stored as <dir>/node.key (0600), node.crt and ca.crt, with
// a kubeconfig beside the directory. It speaks HTTP itself (not through
// package client) because it runs before the agent has a credential.
//
// NewRenewer keeps the credential current: when less than a third of the
// certificate's lifetime is left it POSTs api.RenewRequest to
// api.PathCertificates with the current certificate, and swaps the pair on
// disk and in memory (tls.Config's GetClientCertificate and GetCertificate
// follow at once) and rewrites the kubeconfig.
//
// JoinServer is a server's side of joining the control plane (bosun server
// --join): the same pin check, then api.ServerJoinRequest to
// api.PathServerJoin with a server token; the answer's CA certificate and
// key are installed in the pki directory (pki.InstallCA) and the answer
// (initial cluster, settings) returned for the caller to start its etcd
// member. Refusals: ErrTokenRejected (401), ErrNotServerToken (403, a node
// token), api.ErrConflict (409), ErrUnavailable (503).
//
// Usage in the agent:
//
//	creds, err := join.Load(dir, nodeName)
//	if errors.Is(err, fs.ErrNotExist) && token != "" {
//		creds, err = join.Join(ctx, join.Config{
//			Server: server, Token: token, CACertHash: hash,
//			NodeName: nodeName, Dir: dir, IPs: []net.IP{nodeIP},
//		})
//	}
//	if err != nil {
//		return err
//	}
//	r, err := join.NewRenewer(join.RenewConfig{Server: server, Credentials: creds, Logger: log})
//	if err != nil {
//		return err
//	}
//	g.Go(func() error { return r.Run(ctx) })
//	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: creds.TLSConfig()}}
package join
