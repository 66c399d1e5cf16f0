package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/join"
	"github.com/bosun-dev/bosun/pki"
)

// agentConn is how an agent reaches its server: the API client, and the
// node credential it authenticates with (nil for a plain-HTTP development
// server, whose requests need none).
type agentConn struct {
	server string
	// servers are the servers the agent was told of (--server, or the
	// stored kubeconfig's), always kept in the client's list.
	servers []string
	client  *client.Client
	creds   *join.Credentials
}

// serverListPath is where the agent keeps the API servers it last learned.
func (a *agentConfig) serverListPath() string {
	return filepath.Join(a.dataDir, "agent", "servers.json")
}

// pkiDir is where the agent keeps its node credential.
func (a *agentConfig) pkiDir() string { return filepath.Join(a.dataDir, "agent", "pki") }

// connectAgent returns the agent's connection to server. Over HTTPS the agent
// needs a node credential: the one stored in <data-dir>/agent/pki by an
// earlier join (a restarted agent needs no token), or a new one obtained
// with --token and --ca-cert-hash. Without --server, the stored
// kubeconfig names the server. Plain HTTP is accepted only on loopback (a
// development server's --insecure-listen).
//
// server may list several servers, comma-separated: the first is joined
// through, and the client fails over to the others, to those it learned
// from the cluster before a restart (<data-dir>/agent/servers.json), and
// to those ServerRefresh learns while it runs.
func connectAgent(ctx context.Context, a *agentConfig, server string, ips []net.IP, logger *slog.Logger) (agentConn, error) {
	var static []string
	for _, s := range strings.Split(server, ",") {
		if s = strings.TrimSpace(s); s != "" {
			static = append(static, s)
		}
	}
	server = ""
	if len(static) > 0 {
		server = static[0]
	}
	creds, err := join.Load(a.pkiDir(), a.nodeName)
	switch {
	case err == nil:
		if a.token != "" {
			logger.Info("a node credential is stored already; --token is not used", "dir", a.pkiDir())
		}
		if server == "" {
			rc, err := client.RESTConfig(client.KubeconfigOptions{ExplicitPath: creds.Kubeconfig})
			if err != nil {
				return agentConn{}, fmt.Errorf("read the server's address from %s: %w", creds.Kubeconfig, err)
			}
			server = rc.Host
			static = []string{server}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return agentConn{}, fmt.Errorf("the stored node credential in %s: %w (remove the directory and join again with --token)", a.pkiDir(), err)
	case server == "":
		return agentConn{}, errors.New("--server is required (the URL \"bosun token create\" prints, e.g. https://10.0.0.1:6443)")
	case isPlainHTTP(server):
		if err := loopbackOnly(server); err != nil {
			return agentConn{}, err
		}
		for _, s := range static[1:] {
			if err := loopbackOnly(s); err != nil {
				return agentConn{}, err
			}
		}
		c, err := client.New(server, client.WithServers(static[1:]...), client.WithLogger(logger))
		if err != nil {
			return agentConn{}, err
		}
		logger.Warn("plain HTTP development server: the agent has no credential and its port serves loopback only", "server", server)
		return agentConn{server: server, servers: static, client: c}, nil
	case a.token == "" || a.caCertHash == "":
		return agentConn{}, fmt.Errorf("this node has no credential in %s yet: join with --token and --ca-cert-hash (\"bosun token create\" on the server prints the command)", a.pkiDir())
	default:
		creds, err = join.Join(ctx, join.Config{
			Server:     server,
			Token:      a.token,
			CACertHash: a.caCertHash,
			NodeName:   a.nodeName,
			Dir:        a.pkiDir(),
			DNSNames:   []string{a.nodeName},
			IPs:        ips,
			Logger:     logger,
		})
		if err != nil {
			return agentConn{}, err
		}
	}
	saved, err := client.LoadServerList(a.serverListPath())
	if err != nil {
		logger.Warn("the saved list of API servers is unreadable; using --server only", "err", err)
	}
	c, err := client.New(server, client.WithServers(append(static[1:], saved...)...), client.WithTLS(creds.TLSConfig()), client.WithLogger(logger))
	if err != nil {
		return agentConn{}, err
	}
	return agentConn{server: server, servers: static, client: c, creds: &creds}, nil
}

func isPlainHTTP(server string) bool {
	u, err := url.Parse(server)
	return err == nil && u.Scheme == "http"
}

// loopbackOnly refuses a plain-HTTP server that is not on this machine's
// loopback: credentials and pod specs must never cross a network unencrypted.
func loopbackOnly(server string) error {
	u, err := url.Parse(server)
	if err != nil {
		return fmt.Errorf("--server %q: %w", server, err)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		return nil
	}
	return fmt.Errorf("--server %s: plain HTTP is only for a development server on loopback; use the https:// URL \"bosun token create\" prints", server)
}

// issueNodeCredential stores, for bosun server's own node agent, a node
// credential issued directly by the cluster CA in the layout join.Join
// writes, unless a valid one for the node is there already. The agent then
// loads and renews it like any other.
func issueNodeCredential(ca *pki.CA, dir, nodeName, server string, ips []net.IP) error {
	if _, err := join.Load(dir, nodeName); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	user := api.NodeUser(nodeName)
	certPEM, keyPEM, err := ca.Issue(pki.Request{User: user, DNSNames: []string{nodeName}, IPs: ips, Usage: pki.UsageBoth})
	if err != nil {
		return fmt.Errorf("issue the node credential of %s: %w", nodeName, err)
	}
	if err := pki.WriteFileAtomic(filepath.Join(dir, join.CAFile), ca.CertPEM(), 0o644); err != nil {
		return err
	}
	if _, err := pki.CreateKeyPair(filepath.Join(dir, join.NodeCertFile), filepath.Join(dir, join.NodeKeyFile), certPEM, keyPEM); err != nil {
		return err
	}
	return pki.WriteKubeconfig(join.DefaultKubeconfig(dir), server, ca.CertPEM(), certPEM, keyPEM, user.Name, pki.ClusterName)
}
