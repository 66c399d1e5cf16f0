//go:build !linux

package proxy

import "errors"

func defaultIPTables() (IPTables, error) {
	return nil, errors.New("proxy: iptables needs Linux")
}
