// Package client is the Go client of bosun's HTTP API (package apiserver):
// typed get, list and watch of the stored objects, the writes controllers
// and agents make, the sync status and history, and bootstrap tokens
// (CreateToken, ListTokens, DeleteToken). Package client/printers prints
// what it returns the way kubectl does.
//
// # Connecting
//
// The CLI builds its client from a kubeconfig, found as kubectl finds one
// (client-go's clientcmd loading rules): --kubeconfig, else $KUBECONFIG,
// else ~/.kube/config, and last FallbackKubeconfig, the admin kubeconfig
// bosun server writes on its machine (/var/lib/bosun/kubeconfig). The
// kubeconfig's CA and client certificate (embedded or as files) make the
// TLS configuration (client-go's rest.TLSConfigFor); --server overrides
// its URL, and without any kubeconfig names a server to talk to without
// credentials (the server's plain-HTTP development listener). RESTConfig
// resolves KubeconfigOptions, NewForConfig builds a client from the
// result, NewFromKubeconfig does both.
//
// A kubeconfig that names its client certificate and key as files (not
// embedded data) has them reread at most once a second, so a renewed pair
// written there (rename into place) is used without a new client. Or, for a
// certificate kept in memory, call New with WithTLS and a tls.Config whose
// GetClientCertificate returns the current one (the node agent's rotating
// node certificate).
// New alone talks plain HTTP (tests, the development listener) or HTTPS
// with the system's roots.
//
// # Failover
//
// A client may know several servers of one cluster: New's URL (a
// kubeconfig's server) first, then those of WithServers (NewFromKubeconfig
// adds those its cluster lists in the KubeconfigServersExtension, written
// with ServersExtension, unless --server overrides); SetServers
// replaces the list while the client runs (the node agent refreshes it from
// ListServers, the servers registered in etcd), keeping the current server
// when it is still listed. Requests go to the current server. When the
// connection to it cannot be made (dial error or timeout, connection
// refused, TLS handshake failure or timeout) or breaks before any byte of
// an answer, or no answer begins within the client's timeout (WithTimeout),
// the client makes the next server current, logs the switch once at Info
// ("API server X unreachable, using Y"; see WithLogger), passes the failed
// one over for DownFor, and sends the request there again when it can: its
// body can be replayed (none, or bytes; not Exec's stdin), and, when the
// request may already have reached the failed server (the connection broke
// after it was sent), its method is idempotent (GET, PUT, DELETE; not
// POST). An HTTP answer, a 500 included, is never sent again. A watch
// that breaks with its server ends with an error; the informers of
// client/cache watch again, and that request goes to a live server. Over
// HTTPS (HTTP/2) an idle connection is pinged after 30 s and closed when
// the server does not answer within 15 s, so that a watch on a stopped
// server ends too.
//
// ServerRefresh keeps a long-running client's servers in step with the
// registry and saves them to a file; LoadServerList reads that file back,
// so that a restarted agent whose --server is down still knows the others:
//
//	saved, _ := client.LoadServerList(filepath.Join(dataDir, "agent", "servers.json"))
//	c, err := client.New(serverFlag[0], client.WithServers(append(serverFlag[1:], saved...)...),
//		client.WithTLS(creds.TLSConfig()), client.WithLogger(log))
//	go client.ServerRefresh{Client: c, Static: serverFlag, Path: ..., Logger: log}.Run(ctx)
//
// # Errors
//
// Errors the server answers with are *APIError values whose message is the
// server's (`deployments "web" not found in namespace "default"`); test them
// with IsNotFound, IsConflict, IsUnauthorized, IsForbidden or Reason. 401 and
// 403 read "the server refused the request: ..." (401 adds "no client
// certificate? check --kubeconfig"). A server that cannot be reached gives
// an error wrapping ErrUnreachable that says how to point at one; a missing
// kubeconfig one wrapping ErrNoKubeconfig that names the files looked at;
// TLS failures say whether the CA or the address is wrong.
//
// Logs streams a container's log (follow, previous, tail, timestamps) and
// Exec runs a command in a container, both through the server from the
// pod's node agent; PodFor picks the pod of a deploy/NAME or rs/NAME for
// them.
//
// # Usage
//
//	home, _ := os.UserHomeDir()
//	c, err := client.NewFromKubeconfig(client.KubeconfigOptions{
//		ExplicitPath: kubeconfigFlag, // "" = search
//		EnvPaths:     os.Getenv("KUBECONFIG"),
//		HomeDir:      home,
//		Fallback:     client.FallbackKubeconfig,
//		Server:       serverFlag, // "" = the kubeconfig's
//	})
//	if err != nil { ... }
//	r, ok := api.Lookup("deploy")
//	objs, err := c.List(ctx, r, "default", "app=web") // "" namespace = all namespaces
//	if err != nil { return err }
//	err = printers.Print(os.Stdout, r, objs, printers.Options{Namespace: "default", Now: time.Now()})
package client
