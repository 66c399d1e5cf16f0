package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/bosun-dev/bosun/apiserver"
	"github.com/bosun-dev/bosun/manifests"
	"github.com/bosun-dev/bosun/render/helm"
	"github.com/bosun-dev/bosun/render/kustomize"
	"github.com/bosun-dev/bosun/render/sops"
	"github.com/bosun-dev/bosun/sync/apply"
)

// renderFlags say how a tree renders: the keys of SOPS-encrypted files,
// whether Kustomize may fetch remote bases, where Helm keeps the charts it
// fetched. bosun server, validate, diff, render, scale and set image share
// them, so that every command reads a tree the way sync does.
type renderFlags struct {
	ageKeyFile       string
	pgpKeyFile       string
	requireEncrypted bool
	allowRemoteBases bool
	helmCacheDir     string
	// userKeys makes the default age key file SOPS's own
	// (~/.config/sops/age/keys.txt) when $SOPS_AGE_KEY_FILE is unset: for
	// the commands a person runs, not for the server.
	userKeys bool
}

// addFlags registers the flags; server adds the server's own (remote
// bases, Helm's cache).
func (r *renderFlags) addFlags(f *pflag.FlagSet, server bool) {
	r.addKeyFlags(f)
	f.BoolVar(&r.requireEncrypted, "require-encrypted-secrets", false, "reject a Secret that is not SOPS-encrypted in Git (by default a warning)")
	if server {
		f.BoolVar(&r.allowRemoteBases, "allow-remote-bases", false, "let kustomizations use remote resources and bases (git URLs): kustomize then runs git and needs the network, and a commit may render differently over time")
		f.StringVar(&r.helmCacheDir, "helm-cache-dir", "", "where charts fetched from chart repositories are kept (default <data-dir>/helm-cache)")
	}
}

// addKeyFlags registers the flags naming the keys of SOPS-encrypted files.
func (r *renderFlags) addKeyFlags(f *pflag.FlagSet) {
	def := os.Getenv("SOPS_AGE_KEY_FILE")
	if def == "" && r.userKeys {
		if home, err := os.UserHomeDir(); err == nil {
			if p := filepath.Join(home, ".config", "sops", "age", "keys.txt"); fileExists(p) {
				def = p
			}
		}
	}
	f.StringVar(&r.ageKeyFile, "sops-age-key-file", def, "age identities (AGE-SECRET-KEY-1... lines) that decrypt SOPS-encrypted files of the repository (default $SOPS_AGE_KEY_FILE"+map[bool]string{true: ", else ~/.config/sops/age/keys.txt", false: ""}[r.userKeys]+")")
	f.StringVar(&r.pgpKeyFile, "sops-pgp-key-file", "", "armored OpenPGP private keys (without passphrase) that decrypt SOPS-encrypted files")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// decrypter returns the SOPS decrypter with the keys the flags name (none:
// encrypted files are structure-checked, and decrypting them fails with
// manifests.ErrNoKey).
func (r *renderFlags) decrypter() (*sops.Decrypter, error) {
	var keys sops.Keys
	if r.ageKeyFile != "" {
		ids, err := sops.LoadAgeIdentities(r.ageKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--sops-age-key-file: %w", err)
		}
		keys.Age = ids
	}
	if r.pgpKeyFile != "" {
		ks, err := sops.LoadPGPKeys(r.pgpKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--sops-pgp-key-file: %w", err)
		}
		keys.PGP = ks
	}
	return sops.New(keys), nil
}

// renderers holds the renderers a tree is read with.
type renderers struct {
	kustomize *kustomize.Renderer
	helm      *helm.Renderer
	decrypter manifests.Decrypter
	// offline is the decrypter of the commands that only look at a tree;
	// nil for the server.
	offline *offlineDecrypter
}

// offlineDecrypter is the decrypter of the commands that only look at a
// tree (validate, render, diff, and the edits' check renders): a file none
// of the keys opens is read with its encrypted values left empty
// (sops.Decrypter.Placeholder) and listed, so that its objects are still
// checked and the command says what it could not open. The server never
// uses it: there, such a file rejects the commit.
type offlineDecrypter struct {
	*sops.Decrypter
	mu       sync.Mutex
	unopened []string
}

// Decrypt implements manifests.Decrypter.
func (o *offlineDecrypter) Decrypt(file string, data []byte) ([]byte, error) {
	out, err := o.Decrypter.Decrypt(file, data)
	if !errors.Is(err, manifests.ErrNoKey) {
		return out, err
	}
	o.mu.Lock()
	o.unopened = append(o.unopened, file)
	o.mu.Unlock()
	return o.Placeholder(file, data)
}

// warnings returns one warning per file that could not be opened.
func (o *offlineDecrypter) warnings() manifests.Problems {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ps manifests.Problems
	seen := map[string]bool{}
	for _, f := range o.unopened {
		if !seen[f] {
			seen[f] = true
			ps = append(ps, manifests.Problem{File: f, Warning: true,
				Message: "encrypted with SOPS and none of the keys given opens it: its objects were checked with their encrypted values left empty (give the key with --sops-age-key-file or --sops-pgp-key-file)"})
		}
	}
	return ps
}

// renderers builds the renderers of the flags; cacheDir is Helm's chart
// cache when --helm-cache-dir is not given ("" keeps none). offline makes
// files no key opens readable with empty values (offlineDecrypter), for the
// commands that only look at a tree.
func (r *renderFlags) renderers(cacheDir string, offline bool) (*renderers, error) {
	sd, err := r.decrypter()
	if err != nil {
		return nil, err
	}
	var dec manifests.Decrypter = sd
	var od *offlineDecrypter
	if offline {
		od = &offlineDecrypter{Decrypter: sd}
		dec = od
	}
	if r.helmCacheDir != "" {
		cacheDir = r.helmCacheDir
	}
	return &renderers{
		kustomize: kustomize.New(kustomize.Options{AllowRemote: r.allowRemoteBases, Decrypter: dec}),
		helm: helm.New(helm.Options{Decrypter: dec, CacheDir: cacheDir, KubeVersion: apiserver.KubernetesVersion,
			HTTPClient: &http.Client{Timeout: 2 * time.Minute}}),
		decrypter: dec,
		offline:   od,
	}, nil
}

// apply sets the rendering options of opts.
func (rs *renderers) apply(opts *manifests.Options, requireEncrypted bool) {
	opts.Renderers = []manifests.Renderer{rs.kustomize, rs.helm}
	opts.Decrypter = rs.decrypter
	opts.RequireEncryptedSecrets = requireEncrypted
}

// editor returns the editor of the renderer that renders from the file
// renderedBy (a kustomization or a bosun-helm.yaml).
func (rs *renderers) editor(renderedBy string) (manifests.RenderedEditor, bool) {
	switch path.Base(renderedBy) {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return rs.kustomize, true
	case helm.ConfigFile:
		return rs.helm, true
	}
	return nil, false
}

func newRenderCommand() *cobra.Command {
	var (
		dir         string
		showSecrets bool
		rf          = renderFlags{userKeys: true}
	)
	cmd := &cobra.Command{
		Use:   "render [DIR]",
		Short: "Print what a tree renders to: plain YAML of every object, Kustomize and Helm rendered, with where each comes from",
		Long: `render reads the files of DIR (default ".") as bosun server reads a
commit — plain manifests, Kustomize overlays (a directory with a
kustomization.yaml), Helm charts (a directory with a bosun-helm.yaml),
SOPS-encrypted files — and prints every object as YAML, in file order, with
the bosun.dev/source annotation (the file and line it comes from) and, for
rendered objects, bosun.dev/rendered-by (the kustomization or
bosun-helm.yaml). Problems go to standard error as file:line: object:
field: message; the exit status is 1 when there are errors, as bosun
validate.

The values of Secrets are replaced by "<redacted>" unless --show-secrets is
given: the output of a pull-request check must not leak them. A file that
none of the keys given opens is rendered with its encrypted values left
empty, with a warning.

  bosun render --path overlays/prod .
  bosun render --sops-age-key-file key.txt --show-secrets apps/db`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := "."
			if len(args) == 1 {
				root = args[0]
			}
			res, err := loadLocal(root, dir, &rf, nil)
			if err != nil {
				return fmt.Errorf("render: %w", err)
			}
			for _, p := range res.Problems {
				fmt.Fprintln(cmd.ErrOrStderr(), p.String())
			}
			if err := writeRendered(cmd.OutOrStdout(), res.Objects, showSecrets); err != nil {
				return fmt.Errorf("render: %w", err)
			}
			if len(res.Problems.Errors()) > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "path", "", "subdirectory of DIR to read, as bosun server's --path")
	cmd.Flags().BoolVar(&showSecrets, "show-secrets", false, "print the values of Secrets (decrypted ones included) instead of <redacted>")
	rf.addFlags(cmd.Flags(), false)
	return cmd
}

// loadLocal loads the directory root (--path dir) of the local disk as a
// commit of it would be read; more adjusts the options (Pod Security,
// service CIDR) before.
func loadLocal(root, dir string, rf *renderFlags, more func(*manifests.Options)) (*manifests.Result, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	rs, err := rf.renderers("", true)
	if err != nil {
		return nil, err
	}
	opts := manifests.Options{Path: dir}
	rs.apply(&opts, rf.requireEncrypted)
	if more != nil {
		more(&opts)
	}
	res, err := manifests.Load(os.DirFS(abs), opts)
	if err != nil {
		return nil, err
	}
	res.Problems = append(res.Problems, rs.offline.warnings()...)
	res.Problems.Sort()
	return res, nil
}

// writeRendered prints objects as a YAML stream, as sync would write them
// (with the source annotations), Secrets redacted unless showSecrets.
func writeRendered(w io.Writer, objs []manifests.Object, showSecrets bool) error {
	sorted := append([]manifests.Object(nil), objs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].File != sorted[j].File {
			return sorted[i].File < sorted[j].File
		}
		return sorted[i].Line < sorted[j].Line
	})
	for i, m := range sorted {
		obj, err := apply.Desired(m, "")
		if err != nil {
			return err
		}
		ann := obj.GetAnnotations()
		delete(ann, "bosun.dev/commit")
		obj.SetAnnotations(ann)
		if s, ok := obj.(*corev1.Secret); ok && !showSecrets {
			redactSecretValues(s)
		}
		b, err := renderedYAML(obj)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", m.File, m.Line, err)
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// renderedYAML is obj as YAML without what sync does not write (status,
// an empty creationTimestamp).
func renderedYAML(obj any) ([]byte, error) {
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok && md["creationTimestamp"] == nil {
		delete(md, "creationTimestamp")
	}
	return sigsyaml.Marshal(m)
}

// redactSecretValues replaces every value of s by "<redacted>" (as
// stringData, so that the word reads in clear).
func redactSecretValues(s *corev1.Secret) {
	out := map[string]string{}
	for k := range s.Data {
		out[k] = "<redacted>"
	}
	for k := range s.StringData {
		out[k] = "<redacted>"
	}
	s.Data, s.StringData = nil, nil
	if len(out) > 0 {
		s.StringData = out
	}
}
