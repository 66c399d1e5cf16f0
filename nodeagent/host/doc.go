// Package host reads the facts about its machine that a node agent reports
// in its Node: the address other machines reach it at (IP) and its CPUs and
// memory (Capacity), and what it uses of them (ReadUsage: CPU time from
// /proc/stat, memory from /proc/meminfo) for the agent's stats.
//
//	ip, err := host.IP("")        // the default route's source address
//	capacity := host.Capacity()  // cpu and memory of this machine
//	u, err := host.ReadUsage()    // CPU time so far, memory in use now
package host
