// Package pki is bosun's certificate authority and the files it keeps: the
// cluster CA (ECDSA P-256, 10 years, <data-dir>/pki/ca.crt and ca.key), the
// CA's public key pin (CertHash, "sha256:HEX", exactly kubeadm's
// --discovery-token-ca-cert-hash), leaf certificates for users and nodes,
// key pairs that are renewed without a restart, and kubeconfig files
// (written with client-go's clientcmd).
//
// A certificate's identity is its subject, as Kubernetes reads client
// certificates: CN is the user name, O the groups (IdentityOf). SignCSR
// sets the subject itself and never trusts the request's, so an agent can
// ask only for the identity the server grants it.
//
// KeyPair holds a certificate and key on disk and in memory; its
// GetCertificate and GetClientCertificate plug into tls.Config and always
// return the current pair. A Renewer replaces the pair when less than a
// third of its lifetime is left (NeedsRenewal), writing the files
// atomically. EnsureServerPKI creates (and on restart checks) everything
// bosun server needs; ServerPKI.Run renews it.
//
// Usage on the server:
//
//	s, err := pki.EnsureServerPKI(pki.ServerConfig{
//		Dir:              filepath.Join(dataDir, "pki"),
//		AdvertiseAddress: "192.0.2.10",
//		TLSSANs:          []string{"bosun.example.com"},
//		AdminKubeconfig:  filepath.Join(dataDir, "kubeconfig"),
//		KubeconfigServer: "https://192.0.2.10:6443",
//		Logger:           log,
//	})
//	if err != nil {
//		return err
//	}
//	tlsConfig := &tls.Config{
//		GetCertificate: s.Serving.GetCertificate,
//		ClientCAs:      s.CA.Pool(),
//		ClientAuth:     tls.VerifyClientCertIfGiven,
//	}
//	g.Go(func() error { return s.Run(ctx) })           // renewals
//	certPEM, err := s.CA.SignCSR(csrPEM, api.NodeUser(name), pki.UsageBoth, 0)
//	fmt.Println("join with --ca-cert-hash", s.CA.Hash())
package pki
