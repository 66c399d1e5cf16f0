package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
)

// adminKubeconfigName is the admin kubeconfig's file name in the server's
// data directory.
const adminKubeconfigName = "kubeconfig"

func newKubeconfigCommand() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the admin kubeconfig the server wrote",
		Long: `kubeconfig prints the admin kubeconfig "bosun server" wrote on first start
at <data-dir>/kubeconfig (mode 0600, so run it as root on the server's
machine). It embeds the cluster CA and the admin client certificate: bosun
and kubectl use it unchanged.`,
		Example: `  sudo bosun kubeconfig > ~/.kube/config
  sudo bosun kubeconfig --data-dir /srv/bosun > admin.conf && kubectl --kubeconfig admin.conf get nodes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printAdminKubeconfig(cmd.OutOrStdout(), dataDir)
		},
	}
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
