// Package host reads the facts about its machine that a node agent reports
// in its Node: the address other machines reach it at (IP) and its CPUs and
// memory (Capacity).
//
//	ip, err := host.IP("")        // the default route's source address
//	capacity := host.Capacity()  // cpu and memory of this machine
package host
