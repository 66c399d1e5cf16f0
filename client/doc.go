// Package client is the Go client of bosun's HTTP API (package apiserver):
// typed get, list and watch of the stored objects, the writes controllers
// and agents make, and the sync status and history. Package
// client/printers prints what it returns the way kubectl does.
//
// Errors the server answers with are *APIError values whose message is the
// server's (`deployments "web" not found in namespace "default"`); test them
// with IsNotFound, IsConflict or Reason. A server that cannot be reached
// gives an error wrapping ErrUnreachable that says how to point at one
// (--server or BOSUN_SERVER).
//
// Logs streams a container's log (follow, previous, tail, timestamps) and
// Exec runs a command in a container, both through the server from the
// pod's node agent; PodFor picks the pod of a deploy/NAME or rs/NAME for
// them.
//
// Usage:
//
//	c, err := client.New(os.Getenv(client.EnvServer)) // "" = client.DefaultServer
//	if err != nil { ... }
//	r, ok := api.Lookup("deploy")
//	objs, err := c.List(ctx, r, "default", "app=web") // "" namespace = all namespaces
//	if err != nil { return err }
//	err = printers.Print(os.Stdout, r, objs, printers.Options{Namespace: "default", Now: time.Now()})
package client
