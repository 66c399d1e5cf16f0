package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: app [serve | sleep SECONDS | exit CODE | ignore-term | cat FILE... | write FILE TEXT | env | get URL | lookup NAME | version]`

// subcommand runs one of the tool subcommands and returns the exit code.
func subcommand(args []string, stdout, stderr io.Writer) int {
	switch args[0] {
	case "sleep":
		if len(args) != 2 {
			break
		}
		secs, err := strconv.ParseFloat(args[1], 64)
		if err != nil || secs < 0 {
			fmt.Fprintf(stderr, "app sleep: %q is not a number of seconds\n", args[1])
			return 2
		}
		// As PID 1 in a container, SIGTERM is ignored unless handled.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		// Said once the handler is in place: a SIGTERM sent before this line
		// is ignored (PID 1), so whoever stops the container can wait for it.
		fmt.Fprintf(stdout, "app sleep: sleeping %ss, SIGTERM ends it\n", args[1])
		t := time.NewTimer(time.Duration(secs * float64(time.Second)))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			fmt.Fprintln(stdout, "app sleep: terminated")
		}
		return 0
	case "exit":
		if len(args) != 2 {
			break
		}
		code, err := strconv.Atoi(args[1])
		if err != nil || code < 0 || code > 255 {
			fmt.Fprintf(stderr, "app exit: %q is not an exit code\n", args[1])
			return 2
		}
		fmt.Fprintf(stdout, "app exit: exiting with %d\n", code)
		return code
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Fprintln(stdout, "app ignore-term: ignoring SIGTERM")
		for {
			// Not select{}: with no other goroutine the runtime would call
			// that a deadlock and exit.
			time.Sleep(time.Hour)
		}
	case "cat":
		code := 0
		for _, p := range args[1:] {
			b, err := os.ReadFile(p)
			if err != nil {
				fmt.Fprintf(stderr, "app cat: %v\n", err)
				code = 1
				continue
			}
			stdout.Write(b)
		}
		return code
	case "write":
		if len(args) != 3 {
			break
		}
		f, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err == nil {
			_, err = fmt.Fprintln(f, args[2])
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "app write: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "app write: appended to %s\n", args[1])
		return 0
	case "env":
		env := os.Environ()
		sort.Strings(env)
		fmt.Fprint(stdout, strings.Join(env, "\n")+"\n")
		return 0
	case "get":
		if len(args) != 2 {
			break
		}
		return get(args[1], stdout, stderr)
	case "lookup":
		if len(args) != 2 {
			break
		}
		return lookup(args[1], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
		return 0
	}
	fmt.Fprintln(stderr, usage)
	return 2
}

// get fetches url and prints its body; the exit code is 0 for a 2xx answer.
func get(url string, stdout, stderr io.Writer) int {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "app get: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		fmt.Fprintf(stderr, "app get: %v\n", err)
		return 1
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "app get: %s\n", resp.Status)
		return 1
	}
	return 0
}

// lookup resolves name with Go's resolver, which reads /etc/resolv.conf
// (search domains and ndots included) as a pod's programs do, and prints
// its addresses sorted, one per line; the exit code is 0 when it resolved.
func lookup(name string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if err != nil {
		fmt.Fprintf(stderr, "app lookup: %v\n", err)
		return 1
	}
	sort.Strings(addrs)
	fmt.Fprint(stdout, strings.Join(addrs, "\n")+"\n")
	return 0
}
