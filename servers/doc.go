// Package servers is the registry of the running API servers in etcd: each
// server keeps its api.ServerInfo under KeyPrefix + its name, attached to a
// lease of its own that it keeps alive, so that a server that dies drops out
// of the list once its lease expires, and one that stops cleanly at once.
// The API serves the list at api.PathServers; agents and clients read it to
// learn every address they can fail over to.
//
//	info := api.ServerInfo{Name: "s1", URL: "https://10.0.0.1:6443", Started: time.Now()}
//	go servers.Register(ctx, etcdClient, info, servers.DefaultTTL, logger) // until ctx ends
//	list, err := servers.List(ctx, etcdClient)                             // sorted by name
package servers
