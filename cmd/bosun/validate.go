package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bosun-dev/bosun/manifests"
)

func newValidateCommand() *cobra.Command {
	var path, serviceCIDR string
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Decode and validate the manifests in a working tree, offline",
		Long: `validate runs the decoder and validator that bosun server runs on every
commit, on the files of DIR (default "."), without a server. Every problem
is printed as file:line: object: field: message. The exit status is 1 when
there are errors (warnings alone exit 0), which makes it a pre-commit hook
or a pull-request check:

  bosun validate .                 # the whole tree
  bosun validate --path apps .     # only what a server with --path apps reads`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
				return fmt.Errorf("validate: %s is not a directory", dir)
			}
			opts := manifests.Options{Path: path}
			if serviceCIDR != "" {
				p, err := netip.ParsePrefix(serviceCIDR)
				if err != nil {
					return fmt.Errorf("validate: --service-cidr: %w", err)
				}
				opts.ServiceCIDRs = []netip.Prefix{p.Masked()}
			}
			res, err := manifests.Load(os.DirFS(abs), opts)
			if err != nil {
				return fmt.Errorf("validate: %w", err)
			}
			out := cmd.OutOrStdout()
			for _, p := range res.Problems.Errors() {
				fmt.Fprintln(out, p.String())
			}
			for _, p := range res.Problems.Warnings() {
				fmt.Fprintln(out, p.String())
			}
			nerr, nwarn := len(res.Problems.Errors()), len(res.Problems.Warnings())
			files := map[string]bool{}
			for _, o := range res.Objects {
				files[o.File] = true
			}
			if nerr > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "%d error(s), %d warning(s): bosun would reject this commit\n", nerr, nwarn)
				return exitError{code: 1}
			}
			for _, w := range res.SyncWindows {
				files[w.File] = true
			}
			fmt.Fprintf(out, "%d object(s) in %d file(s) are valid", len(res.Objects), len(files))
			if n := len(res.SyncWindows); n > 0 {
				fmt.Fprintf(out, ", with %d sync window(s)", n)
			}
			if nwarn > 0 {
				fmt.Fprintf(out, " (%d warning(s))", nwarn)
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "path", "", "subdirectory of DIR to read, as bosun server's --path")
	cmd.Flags().StringVar(&serviceCIDR, "service-cidr", "", "also reject clusterIPs outside this range, as a server with this --service-cidr does (default: not checked)")
	return cmd
}
