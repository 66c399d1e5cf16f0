package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/podsecurity"
)

func newValidateCommand() *cobra.Command {
	var path, serviceCIDR, podSecurityDefault string
	rf := renderFlags{userKeys: true}
	cmd := &cobra.Command{
		Use:   "validate [DIR]",
		Short: "Decode and validate the manifests in a working tree, offline",
		Long: `validate runs the decoder and validator that bosun server runs on every
commit, on the files of DIR (default "."), without a server. Every problem
is printed as file:line: object: field: message. The exit status is 1 when
there are errors (warnings alone exit 0), which makes it a pre-commit hook
or a pull-request check:

  bosun validate .                 # the whole tree
  bosun validate --path apps .     # only what a server with --path apps reads

Kustomize overlays and Helm charts are rendered and their objects validated
(see bosun render). SOPS-encrypted files are checked for structure without
a key; with --sops-age-key-file (default $SOPS_AGE_KEY_FILE, else SOPS's
~/.config/sops/age/keys.txt) their objects are decrypted and validated too.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			var cidrs []netip.Prefix
			if serviceCIDR != "" {
				p, err := netip.ParsePrefix(serviceCIDR)
				if err != nil {
					return fmt.Errorf("validate: --service-cidr: %w", err)
				}
				cidrs = []netip.Prefix{p.Masked()}
			}
			policy, err := podsecurity.New(podSecurityDefault)
			if err != nil {
				return fmt.Errorf("validate: --pod-security-default: %w", err)
			}
			res, err := loadLocal(dir, path, &rf, func(o *manifests.Options) { o.ServiceCIDRs = cidrs })
			if err != nil {
				return fmt.Errorf("validate: %w", err)
			}
			// Pod Security as the server checks it, with the labels of the
			// tree's own Namespaces (the cluster's are not known offline).
			labels := map[string]map[string]string{}
			for _, o := range res.Objects {
				if ns, ok := o.Obj.(*corev1.Namespace); ok {
					labels[ns.Name] = ns.Labels
				}
			}
			res.Problems = append(res.Problems, policy.CheckObjects(res.Objects, func(ns string) map[string]string { return labels[ns] })...)
			res.Problems.Sort()
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
	cmd.Flags().StringVar(&podSecurityDefault, "pod-security-default", podsecurity.DefaultLevel, "Pod Security level for namespaces the tree defines without pod-security.kubernetes.io labels (or does not define), as bosun server's flag")
	rf.addFlags(cmd.Flags(), false)
	cmd.Flags().StringVar(&serviceCIDR, "service-cidr", "", "also reject clusterIPs outside this range, as a server with this --service-cidr does (default: not checked)")
	return cmd
}
