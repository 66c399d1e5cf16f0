package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bosun-dev/bosun/client"
)

// adminKubeconfigName is the admin kubeconfig's file name in the server's
// data directory.
const adminKubeconfigName = "kubeconfig"

func newKubeconfigCommand() *cobra.Command {
	var dataDir string
	var allServers bool
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the admin kubeconfig the server wrote",
		Long: `kubeconfig prints the admin kubeconfig "bosun server" wrote on first start
at <data-dir>/kubeconfig (mode 0600, so run it as root on the server's
machine). It embeds the cluster CA and the admin client certificate: bosun
and kubectl use it unchanged.

With --all-servers it first asks the API (through that kubeconfig) which
servers the cluster has, and lists the others in the cluster's
bosun.dev/servers extension: bosun then fails over to them when the first
is down (kubectl ignores the extension and uses the first).`,
		Example: `  sudo bosun kubeconfig > ~/.kube/config
  sudo bosun kubeconfig --data-dir /srv/bosun > admin.conf && kubectl --kubeconfig admin.conf get nodes
  sudo bosun kubeconfig --all-servers > ~/.kube/config   # a highly available control plane`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !allServers {
				return printAdminKubeconfig(cmd.OutOrStdout(), dataDir)
			}
			var buf bytes.Buffer
			if err := printAdminKubeconfig(&buf, dataDir); err != nil {
				return err
			}
			path := filepath.Join(dataDir, adminKubeconfigName)
			urls, err := registeredServers(cmd.Context(), path)
			if err != nil {
				return fmt.Errorf("kubeconfig: --all-servers: %w", err)
			}
			out, err := withServersExtension(buf.Bytes(), urls)
			if err != nil {
				return fmt.Errorf("kubeconfig: %s: %w", path, err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().BoolVar(&allServers, "all-servers", false, "list every registered API server in the kubeconfig (bosun.dev/servers), so bosun fails over between them")
	cmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/bosun", "the server's data directory (bosun server --data-dir)")
	return cmd
}

// printAdminKubeconfig writes the admin kubeconfig in dataDir to w, once it
// has checked the file is one.
func printAdminKubeconfig(w io.Writer, dataDir string) error {
	path := filepath.Join(dataDir, adminKubeconfigName)
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("kubeconfig: %s does not exist: bosun server writes it on first start; "+
			"is the server running on this machine with --data-dir %s?", path, dataDir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("kubeconfig: cannot read %s: %w: the admin kubeconfig is readable by root only; run sudo bosun kubeconfig", path, err)
	case err != nil:
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return fmt.Errorf("kubeconfig: %s is not a kubeconfig: %w", path, err)
	}
	if len(cfg.Clusters) == 0 || len(cfg.AuthInfos) == 0 {
		return fmt.Errorf("kubeconfig: %s names no cluster or no user", path)
	}
	_, err = w.Write(data)
	return err
}

// registeredServers asks the API named by the kubeconfig at path for the
// URLs of the servers registered in the cluster.
func registeredServers(ctx context.Context, path string) ([]string, error) {
	c, err := client.NewFromKubeconfig(client.KubeconfigOptions{ExplicitPath: path})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := c.ListServers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the cluster's servers: %w", err)
	}
	urls := make([]string, 0, len(list))
	for _, s := range list {
		urls = append(urls, s.URL)
	}
	return urls, nil
}

// withServersExtension returns the kubeconfig data with the servers in urls
// other than its current cluster's own listed in that cluster's
// client.KubeconfigServersExtension (replacing any list there).
func withServersExtension(data []byte, urls []string) ([]byte, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, err
	}
	kctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return nil, fmt.Errorf("no current context %q", cfg.CurrentContext)
	}
	cluster, ok := cfg.Clusters[kctx.Cluster]
	if !ok {
		return nil, fmt.Errorf("context %q names no cluster %q", cfg.CurrentContext, kctx.Cluster)
	}
	var others []string
	for _, u := range urls {
		if u != cluster.Server && !slices.Contains(others, u) {
			others = append(others, u)
		}
	}
	delete(cluster.Extensions, client.KubeconfigServersExtension)
	if len(others) > 0 {
		if cluster.Extensions == nil {
			cluster.Extensions = map[string]runtime.Object{}
		}
		cluster.Extensions[client.KubeconfigServersExtension] = client.ServersExtension(others)
	}
	return clientcmd.Write(*cfg)
}
