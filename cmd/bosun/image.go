package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/nodeagent/containerdproc"
	"github.com/bosun-dev/bosun/nodeagent/images"
)

func newImageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the container images of this node",
	}
	var dataDir, socket string
	imp := &cobra.Command{
		Use:   "import FILE.tar...",
		Short: "Import OCI or docker image tarballs into this node's containerd",
		Long: `import loads image tarballs (OCI layout or "docker save" archives) into the
containerd of the node agent running on this machine and unpacks them, so
pods can use them without a registry. "make images" builds the example
images into bin/images/.

  bosun image import bin/images/hello-v1.tar bin/images/hello-v2.tar`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			address := socket
			if address == "" {
				address = filepath.Join(dataDir, "containerd", "containerd.sock")
			}
			c, err := containerdproc.Connect(cmd.Context(), address)
			if err != nil {
				return fmt.Errorf("image import: no containerd at %s (is bosun server or bosun agent running with this --data-dir?): %w", address, err)
			}
			defer c.Close()
			for _, path := range args {
				f, err := os.Open(path)
				if err != nil {
					return fmt.Errorf("image import: %w", err)
				}
				names, err := images.Import(cmd.Context(), c, f)
				f.Close()
				if err != nil {
					return fmt.Errorf("image import %s: %w", path, err)
				}
				for _, n := range names {
					fmt.Fprintf(cmd.OutOrStdout(), "imported %s from %s\n", n, path)
				}
			}
			return nil
		},
	}
	imp.Flags().StringVar(&dataDir, "data-dir", "/var/lib/bosun", "data directory of the bosun server or agent on this machine")
	imp.Flags().StringVar(&socket, "containerd-socket", "", "containerd socket (default: <data-dir>/containerd/containerd.sock)")
	cmd.AddCommand(imp)
	return cmd
}
