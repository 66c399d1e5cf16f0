package host

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of /proc/stat's CPU times: USER_HZ, 100 on every
// Linux architecture bosun runs on.
const userHZ = 100

// Usage is what the machine uses at one moment.
type Usage struct {
	// CPUUsageNanos is the CPU time spent outside idle and iowait since
	// boot, over all CPUs, in nanoseconds: cumulative.
	CPUUsageNanos uint64
	// MemoryUsageBytes is the memory in use, page cache included
	// (MemTotal - MemFree).
	MemoryUsageBytes uint64
	// MemoryWorkingSetBytes is MemoryUsageBytes less the inactive file
	// cache, kubelet's node working set.
	MemoryWorkingSetBytes uint64
	// MemoryAvailableBytes is MemAvailable.
	MemoryAvailableBytes uint64
}

// ReadUsage reads the machine's usage from /proc/stat and /proc/meminfo.
func ReadUsage() (Usage, error) {
	st, err := os.Open("/proc/stat")
	if err != nil {
		return Usage{}, fmt.Errorf("host: usage: %w", err)
	}
	defer st.Close()
	mi, err := os.Open("/proc/meminfo")
	if err != nil {
		return Usage{}, fmt.Errorf("host: usage: %w", err)
	}
	defer mi.Close()
	return usage(st, mi)
}

// usage parses /proc/stat and /proc/meminfo.
func usage(stat, meminfo io.Reader) (Usage, error) {
	var u Usage
	sc := bufio.NewScanner(stat)
	found := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || f[0] != "cpu" {
			continue
		}
		// user nice system idle iowait irq softirq steal: all but idle
		// and iowait are use, as cadvisor counts.
		for i, v := range f[1:9] {
			if i == 3 || i == 4 {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return u, fmt.Errorf("host: /proc/stat: %q: %w", sc.Text(), err)
			}
			u.CPUUsageNanos += n * (1e9 / userHZ)
		}
		found = true
		break
	}
	if !found {
		return u, errors.New("host: /proc/stat has no cpu line")
	}
	kb := map[string]uint64{}
	sc = bufio.NewScanner(meminfo)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 {
			if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				kb[strings.TrimSuffix(f[0], ":")] = n << 10
			}
		}
	}
	total, ok := kb["MemTotal"]
	if !ok {
		return u, errors.New("host: /proc/meminfo has no MemTotal")
	}
	u.MemoryUsageBytes = total - min(total, kb["MemFree"])
	u.MemoryWorkingSetBytes = u.MemoryUsageBytes - min(u.MemoryUsageBytes, kb["Inactive(file)"])
	u.MemoryAvailableBytes = kb["MemAvailable"]
	return u, nil
}
