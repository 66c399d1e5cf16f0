package client

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// FallbackKubeconfig is the kubeconfig read when no other is found: the
// admin kubeconfig bosun server writes into its default data directory, so
// that on the server's machine (as root) the CLI needs no flag.
const FallbackKubeconfig = "/var/lib/bosun/kubeconfig"

// ErrNoKubeconfig is wrapped by the error of a client that has neither a
// kubeconfig nor a server URL.
var ErrNoKubeconfig = errors.New("no kubeconfig found")

// KubeconfigOptions say where a client's kubeconfig is looked for: as
// kubectl looks (client-go's clientcmd loading rules: ExplicitPath, else the
// files of EnvPaths merged, else HomeDir/.kube/config), then Fallback.
// The zero value looks nowhere: a client then needs Server.
type KubeconfigOptions struct {
	// ExplicitPath is --kubeconfig: when set it is the only file read, and
	// it must exist.
	ExplicitPath string
	// EnvPaths is the value of $KUBECONFIG: files separated by
	// filepath.ListSeparator, merged as kubectl merges them (missing ones
	// are skipped). When set, HomeDir is not consulted.
	EnvPaths string
	// HomeDir is the user's home directory, whose .kube/config is read when
	// EnvPaths is empty; "" skips it.
	HomeDir string
	// Fallback is read when none of the files above exists (the CLI sets
	// FallbackKubeconfig); "" skips it.
	Fallback string
	// Server overrides the kubeconfig's server URL (--server). Without a
	// kubeconfig the client talks to Server with no credentials: the
	// server's plain-HTTP development listener, or tests.
	Server string
	// Context names the kubeconfig context to use; "" is its current-context.
	Context string
}

// searched returns the files o looks at, in order, for error messages.
func (o KubeconfigOptions) searched() []string {
	if o.ExplicitPath != "" {
		return []string{o.ExplicitPath}
	}
	var out []string
	out = append(out, o.precedence()...)
	if o.Fallback != "" {
		out = append(out, o.Fallback)
	}
	return out
}

// precedence returns the files of $KUBECONFIG, or ~/.kube/config.
func (o KubeconfigOptions) precedence() []string {
	if o.EnvPaths != "" {
		var out []string
		for _, p := range filepath.SplitList(o.EnvPaths) {
			if p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	if o.HomeDir != "" {
		return []string{filepath.Join(o.HomeDir, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)}
	}
	return nil
}

// RESTConfig resolves o into client-go's *rest.Config: the server URL and
// the TLS material (CA, client certificate and key, embedded or as file
// paths relative to the kubeconfig) of the chosen context. It returns an
// error wrapping ErrNoKubeconfig, naming the files it looked at, when no
// kubeconfig exists and o.Server is "".
func RESTConfig(o KubeconfigOptions) (*rest.Config, error) {
	rc, _, err := loadKubeconfig(o)
	return rc, err
}

// loadKubeconfig is RESTConfig, and also returns the other servers the
// chosen cluster lists in its KubeconfigServersExtension (none when
// o.Server overrides the kubeconfig's server).
func loadKubeconfig(o KubeconfigOptions) (*rest.Config, []string, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: o.ExplicitPath}
	if o.ExplicitPath == "" {
		rules.Precedence = o.precedence()
		if o.Fallback != "" && !anyExists(rules.Precedence) {
			if err := readable(o.Fallback); err != nil {
				return nil, nil, err
			}
			rules.Precedence = append(rules.Precedence, o.Fallback)
		}
	}
	raw, err := rules.Load()
	if err != nil {
		if o.ExplicitPath != "" && errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("client: --kubeconfig %s: %w", o.ExplicitPath, err)
		}
		return nil, nil, fmt.Errorf("client: read the kubeconfig: %w", err)
	}
	if clientcmdapi.IsConfigEmpty(raw) {
		if o.Server == "" {
			return nil, nil, fmt.Errorf("client: %w (looked at %s) and no --server given: on the server's machine run "+
				"`sudo bosun kubeconfig > ~/.kube/config`, or pass --kubeconfig FILE", ErrNoKubeconfig, strings.Join(o.searched(), ", "))
		}
		return &rest.Config{Host: o.Server}, nil, nil
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.Context}
	overrides.ClusterInfo.Server = o.Server
	rc, err := clientcmd.NewNonInteractiveClientConfig(*raw, o.Context, overrides, rules).ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("client: kubeconfig %s: %w", strings.Join(o.searched(), ", "), err)
	}
	if o.Server != "" {
		return rc, nil, nil
	}
	extra, err := extraServers(raw, o.Context)
	if err != nil {
		return nil, nil, fmt.Errorf("client: kubeconfig %s: %w", strings.Join(o.searched(), ", "), err)
	}
	return rc, extra, nil
}

// KubeconfigServersExtension names the extension of a kubeconfig cluster
// that lists the cluster's other API servers, which a client built from the
// kubeconfig fails over to (after the cluster's server). Its value is
// ServersExtension's: {"servers": ["https://10.0.0.2:6443", ...]}. kubectl
// ignores it.
const KubeconfigServersExtension = "bosun.dev/servers"

// serversExtension is the value of KubeconfigServersExtension.
type serversExtension struct {
	Servers []string `json:"servers"`
}

// ServersExtension returns the value of KubeconfigServersExtension listing
// urls, for a kubeconfig writer:
//
//	cluster.Extensions[client.KubeconfigServersExtension] = client.ServersExtension(urls)
func ServersExtension(urls []string) runtime.Object {
	b, _ := json.Marshal(serversExtension{Servers: urls}) // a []string always encodes
	return &runtime.Unknown{Raw: b, ContentType: runtime.ContentTypeJSON}
}

// extraServers returns the servers listed in the KubeconfigServersExtension
// of the cluster of context name ("" = the current context) of raw.
func extraServers(raw *clientcmdapi.Config, name string) ([]string, error) {
	if name == "" {
		name = raw.CurrentContext
	}
	kctx, ok := raw.Contexts[name]
	if !ok {
		return nil, nil
	}
	cluster, ok := raw.Clusters[kctx.Cluster]
	if !ok || cluster.Extensions[KubeconfigServersExtension] == nil {
		return nil, nil
	}
	unknown, ok := cluster.Extensions[KubeconfigServersExtension].(*runtime.Unknown)
	var v serversExtension
	if !ok || json.Unmarshal(unknown.Raw, &v) != nil {
		return nil, fmt.Errorf("cluster %q: extension %s: want {\"servers\": [URL, ...]}", kctx.Cluster, KubeconfigServersExtension)
	}
	return v.Servers, nil
}

// anyExists reports whether one of paths exists.
func anyExists(paths []string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// readable returns nil when the fallback kubeconfig path can be read or
// does not exist, and an error saying how to get it otherwise.
func readable(path string) error {
	f, err := os.Open(path)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("client: cannot read %s, the admin kubeconfig of the bosun server on this machine: %w: "+
			"run as root, or copy it once with `sudo bosun kubeconfig > ~/.kube/config`", path, err)
	default:
		return fmt.Errorf("client: read the kubeconfig: %w", err)
	}
}

// NewForConfig returns a client of the server rc names, with rc's TLS
// (client-go's rest.TLSConfigFor) and credentials (rest.HTTPWrappersForConfig).
// opts apply after those (e.g. WithTimeout).
func NewForConfig(rc *rest.Config, opts ...Option) (*Client, error) {
	if rc.Host == "" {
		return nil, errors.New("client: the kubeconfig names no server")
	}
	tlsConfig, err := rest.TLSConfigFor(rc)
	if err != nil {
		return nil, fmt.Errorf("client: TLS of server %s: %w", rc.Host, err)
	}
	rt, err := rest.HTTPWrappersForConfig(rc, newTransport(tlsConfig))
	if err != nil {
		return nil, fmt.Errorf("client: credentials for server %s: %w", rc.Host, err)
	}
	all := append([]Option{WithHTTPClient(&http.Client{Transport: rt})}, opts...)
	return New(rc.Host, all...)
}

// NewFromKubeconfig returns a client configured by the kubeconfig o finds
// (RESTConfig), or of o.Server without credentials when there is none. The
// servers its cluster lists in KubeconfigServersExtension follow the
// cluster's server (WithServers), unless o.Server overrides it.
func NewFromKubeconfig(o KubeconfigOptions, opts ...Option) (*Client, error) {
	rc, extra, err := loadKubeconfig(o)
	if err != nil {
		return nil, err
	}
	if len(extra) > 0 {
		opts = append([]Option{WithServers(extra...)}, opts...)
	}
	return NewForConfig(rc, opts...)
}

// WithTLS makes the client use cfg for https servers: e.g. the node
// agent's cluster CA as RootCAs and GetClientCertificate returning its
// current node certificate (read for every new connection, so a renewed
// certificate is used without a restart). It keeps WithTimeout's bound.
func WithTLS(cfg *tls.Config) Option {
	return func(c *Client) {
		hc := *c.http
		hc.Transport = newTransport(cfg)
		c.http = &hc
	}
}

// The health check of HTTP/2 connections, client-go's defaults: after
// http2ReadIdle without a frame from the server the client pings it, and
// closes the connection when no answer comes within http2PingTimeout. A
// watch on a server that stopped (SIGSTOP, a frozen machine) thus ends,
// and is made again, on a live server.
const (
	http2ReadIdle    = 30 * time.Second
	http2PingTimeout = 15 * time.Second
)

// newTransport returns a copy of http.DefaultTransport (proxy from the
// environment, timeouts, HTTP/2 with its health check) with TLS
// configuration cfg (nil: system roots, no client certificate).
func newTransport(cfg *tls.Config) *http.Transport {
	return newTransportPinging(cfg, http2ReadIdle, http2PingTimeout)
}

// newTransportPinging is newTransport with the HTTP/2 health check's
// periods.
func newTransportPinging(cfg *tls.Config, readIdle, pingTimeout time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	t.HTTP2 = &http.HTTP2Config{SendPingTimeout: readIdle, PingTimeout: pingTimeout}
	return t
}
