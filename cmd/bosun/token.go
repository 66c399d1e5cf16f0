package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/api/table"
	"github.com/bosun-dev/bosun/client/printers"
)

// defaultTokenTTL is a bootstrap token's lifetime unless --ttl says
// otherwise, as kubeadm's.
const defaultTokenTTL = 24 * time.Hour

// tokenOptions are the flags of bosun token create.
type tokenOptions struct {
	ttl         time.Duration
	usages      int
	description string
	output      string
	// server makes a server token (bosun server --join).
	server bool
}

func newTokenCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and delete the bootstrap tokens machines join with",
		Long: `token manages bootstrap tokens, as kubeadm's: "ID.SECRET" values an agent
presents once to join the cluster (bosun agent --token), in exchange for its
own node certificate. The server keeps only a hash of the secret; tokens
expire (default 24h) and can be limited to a number of joins. These commands
need the admin credential.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newTokenCreateCommand(g), newTokenListCommand(g, time.Now), newTokenDeleteCommand(g))
	return cmd
}

func newTokenCreateCommand(g *globalOptions) *cobra.Command {
	o := &tokenOptions{}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a bootstrap token and print the command that joins a machine with it",
		Long: `create makes a bootstrap token and prints the full command to run on the
machine that should join. A node token (the default) joins a node:

  bosun agent --server https://ADDR:6443 --token ID.SECRET --ca-cert-hash sha256:HEX

A control-plane token (--control-plane, a "server" token in bosun token
list) makes the machine a member of the control plane,
with its own etcd member and API, and gives it the cluster CA's key: guard
it as you would the CA. It also works where a node token does. The server
it is made on must run its etcd as a cluster member (--cluster-init):

  bosun server --join https://ADDR:6443 --token ID.SECRET --ca-cert-hash sha256:HEX --repo REPO

--ca-cert-hash pins the cluster CA, so the joining machine trusts the
server before it sends the token. The secret is shown only this once. -o
json prints the server's whole answer instead.`,
		Example: `  bosun token create
  bosun token create --ttl 1h --usages 3 --description "rack 2"
  bosun token create --control-plane --ttl 2h --usages 2 --description "servers 2 and 3"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := o.request()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			resp, err := c.CreateToken(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("token create: %w", err)
			}
			return printTokenResponse(cmd.OutOrStdout(), resp, o.output)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.ttl, "ttl", defaultTokenTTL, "how long the token works; 0 means it never expires")
	f.IntVar(&o.usages, "usages", 0, "how many machines may join with the token; 0 means no limit")
	f.StringVar(&o.description, "description", "", "free text shown by bosun token list")
	f.StringVarP(&o.output, "output", "o", "", "output format: the join command (default) or json")
	f.BoolVar(&o.server, "control-plane", false, "make a server token: it joins a machine to the control plane (bosun server --join) and hands it the cluster CA's key")
	return cmd
}

// request checks the flags and turns them into the API's request.
func (o *tokenOptions) request() (api.TokenRequest, error) {
	if o.output != "" && o.output != "json" {
		return api.TokenRequest{}, fmt.Errorf("-o %q: token create prints the join command or json", o.output)
	}
	if o.ttl < 0 {
		return api.TokenRequest{}, fmt.Errorf("--ttl %s: want a positive duration, or 0 for a token that never expires", o.ttl)
	}
	if o.usages < 0 {
		return api.TokenRequest{}, fmt.Errorf("--usages %d: want a positive count, or 0 for no limit", o.usages)
	}
	ttl := o.ttl
	if ttl == 0 {
		ttl = -1 // the API's "never expires"; its 0 means the server's default
	}
	kind := api.TokenKindNode
	if o.server {
		kind = api.TokenKindServer
	}
	return api.TokenRequest{TTL: ttl, Usages: o.usages, Description: o.description, Kind: kind}, nil
}

// printTokenResponse prints the join command of resp, or resp as JSON.
func printTokenResponse(w io.Writer, resp api.TokenResponse, output string) error {
	if output == "json" {
		b, err := json.MarshalIndent(resp, "", "  ")
		if err != nil {
			return fmt.Errorf("token create: encode the answer: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	if resp.Token == "" || resp.Server == "" || resp.CACertHash == "" {
		return errors.New("token create: the server's answer lacks the token, its URL or the CA hash: is it an older bosun?")
	}
	if resp.Kind == api.TokenKindServer {
		repo := "REPO"
		if resp.Repo != "" {
			repo = shellQuote(resp.Repo)
		}
		_, err := fmt.Fprintf(w, "bosun server --join %s --token %s --ca-cert-hash %s --repo %s\n", resp.Server, resp.Token, resp.CACertHash, repo)
		return err
	}
	_, err := fmt.Fprintf(w, "bosun agent --server %s --token %s --ca-cert-hash %s\n", resp.Server, resp.Token, resp.CACertHash)
	return err
}

// shellQuote returns s as one word of a POSIX shell command line: as it
// is when it holds only safe characters, else in single quotes.
func shellQuote(s string) string {
	safe := s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-~", r))
	}) < 0
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newTokenListCommand(g *globalOptions, now func() time.Time) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the bootstrap tokens (never their secrets)",
		Long: `list shows every bootstrap token the server keeps, as kubeadm token list:
its ID (the part before the dot), its kind (node, or server: it joins the
control plane), how long it still works, when it expires, how many more
joins it allows, and its description. Secrets are never shown:
the server keeps only their hashes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" {
				return fmt.Errorf("-o %q: token list prints a table or json", output)
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			toks, err := c.ListTokens(cmd.Context())
			if err != nil {
				return fmt.Errorf("token list: %w", err)
			}
			if output == "json" {
				if toks == nil {
					toks = []api.BootstrapToken{}
				}
				b, err := json.MarshalIndent(toks, "", "  ")
				if err != nil {
					return fmt.Errorf("token list: encode: %w", err)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				return err
			}
			if len(toks) == 0 {
				_, err := fmt.Fprintln(cmd.ErrOrStderr(), "No bootstrap tokens: make one with bosun token create.")
				return err
			}
			return printers.WriteTable(cmd.OutOrStdout(), tokenTable(toks, now()), false, false)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: a table (default) or json")
	return cmd
}

// tokenTable is the table of bosun token list at time now.
func tokenTable(toks []api.BootstrapToken, now time.Time) table.Table {
	t := table.Table{Columns: []table.Column{{Name: "TOKEN ID"}, {Name: "KIND"}, {Name: "TTL"}, {Name: "EXPIRES"}, {Name: "USAGES LEFT"}, {Name: "DESCRIPTION"}}}
	for _, tok := range toks {
		ttl, expires := "<forever>", "<never>"
		if !tok.Expires.IsZero() {
			expires = tok.Expires.UTC().Format(time.RFC3339)
			if left := tok.Expires.Sub(now); left > 0 {
				ttl = duration.ShortHumanDuration(left)
			} else {
				ttl = "<expired>"
			}
		}
		usages := "unlimited"
		if tok.UsagesLeft >= 0 {
			usages = strconv.Itoa(tok.UsagesLeft)
		}
		desc := tok.Description
		if desc == "" {
			desc = "<none>"
		}
		kind := tok.Kind
		if kind == "" {
			kind = api.TokenKindNode // an older server's answer
		}
		t.Rows = append(t.Rows, []string{tok.ID, kind, ttl, expires, usages, desc})
	}
	return t
}

func newTokenDeleteCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID [ID...]",
		Short: "Delete bootstrap tokens: machines can no longer join with them",
		Long: `delete removes bootstrap tokens by ID (the part before the dot; a whole
ID.SECRET is accepted too). Machines that already joined keep their node
certificates.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			for _, id := range args {
				if err := c.DeleteToken(cmd.Context(), id); err != nil {
					return fmt.Errorf("token delete %s: %w", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "bootstrap token %q deleted\n", tokenID(id))
			}
			return nil
		},
	}
}

// tokenID returns the ID of "ID" or "ID.SECRET".
func tokenID(s string) string {
	id, _, _ := strings.Cut(s, ".")
	return id
}
