//go:build !linux

package network

import "errors"

var errUnsupported = errors.New("network namespaces need Linux")

func createNetNS(string) error { return errUnsupported }
func isNetNS(string) bool      { return false }
func removeNetNS(string) error { return errUnsupported }

func removeNetNSUnder(string) ([]string, error) { return nil, nil }
