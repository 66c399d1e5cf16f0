package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// WriteKubeconfig writes a kubeconfig file (mode 0600) that reaches server
// as user with the given CA, client certificate and key embedded, as
// kubectl and bosun read it. The cluster entry is named cluster, the user
// entry user, and the current context user@cluster. The file is replaced
// atomically: a reader sees the old file or the new one.
func WriteKubeconfig(path, server string, caPEM, certPEM, keyPEM []byte, user, cluster string) error {
	if path == "" || server == "" || user == "" || cluster == "" {
		return errors.New("pki: kubeconfig: path, server, user and cluster are required")
	}
	if len(caPEM) == 0 || len(certPEM) == 0 || len(keyPEM) == 0 {
		return fmt.Errorf("pki: kubeconfig %s: the CA, certificate and key are required", path)
	}
	contextName := user + "@" + cluster
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: user}
	cfg.CurrentContext = contextName

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("pki: kubeconfig: create directory: %w", err)
	}
	tmp, err := createTemp(path, 0o600)
	if err != nil {
		return err
	}
	name := tmp.Name()
	if err := tmp.Close(); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("pki: kubeconfig %s: %w", path, err)
	}
	if err := clientcmd.WriteToFile(*cfg, name); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("pki: kubeconfig %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("pki: kubeconfig %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}
