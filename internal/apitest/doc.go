// Package apitest serves bosun's API on a real embedded etcd for the tests
// of what talks to it: the client packages and the CLI.
//
//	st, url := apitest.Start(t)
//	c, err := client.New(url)
package apitest
