package host

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// IP returns the address a node reports: flag when it is set (an IP
// address, else an error), otherwise the source address of the interface
// of the default route, or 127.0.0.1 on a machine without one.
func IP(flag string) (net.IP, error) {
	if flag != "" {
		ip := net.ParseIP(flag)
		if ip == nil {
			return nil, fmt.Errorf("host: node IP %q is not an IP address", flag)
		}
		return ip, nil
	}
	// A UDP "connection" sends nothing; it only asks the kernel which local
	// address would be used.
	if conn, err := net.Dial("udp4", "192.0.2.1:9"); err == nil {
		defer conn.Close()
		return conn.LocalAddr().(*net.UDPAddr).IP, nil
	}
	return net.IPv4(127, 0, 0, 1), nil
}

// Capacity returns this machine's CPUs and, where /proc/meminfo says, its
// memory.
func Capacity() corev1.ResourceList {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return capacity(runtime.NumCPU(), nil)
	}
	defer f.Close()
	return capacity(runtime.NumCPU(), f)
}

// capacity builds the capacity of a machine with cpus CPUs from its
// /proc/meminfo (nil, or without MemTotal: no memory entry).
func capacity(cpus int, meminfo io.Reader) corev1.ResourceList {
	c := corev1.ResourceList{
		corev1.ResourceCPU: *resource.NewQuantity(int64(cpus), resource.DecimalSI),
	}
	if meminfo == nil {
		return c
	}
	sc := bufio.NewScanner(meminfo)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				c[corev1.ResourceMemory] = *resource.NewQuantity(kb<<10, resource.BinarySI)
			}
		}
	}
	return c
}
