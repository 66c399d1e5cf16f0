package api

import "time"

// PathServers is the API path listing the running API servers (GET, any
// authenticated user): a JSON array of ServerInfo sorted by name. Agents and
// clients read it to learn every address they can fail over to.
const PathServers = "/bosun/v1/servers"

// ServerInfo describes one running API server of the cluster, as it
// registers itself (package servers keeps it under an etcd lease, so a server
// that died drops out of the list).
type ServerInfo struct {
	// Name is the server's name, unique in the cluster (its etcd member name).
	Name string `json:"name"`
	// URL is where clients and agents reach its API, e.g.
	// "https://10.0.0.2:6443".
	URL string `json:"url"`
	// Started is when the server (this run of it) registered.
	Started time.Time `json:"started"`
}
