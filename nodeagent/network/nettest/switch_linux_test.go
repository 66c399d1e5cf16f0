package nettest

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestMachines(t *testing.T) {
	gate(t)
	sw, hosts, addrs := Machines(t, 3)
	if len(hosts) != 3 || len(addrs) != 3 {
		t.Fatalf("Machines(3) = %d hosts, %d addresses", len(hosts), len(addrs))
	}
	for i, a := range addrs {
		if want := sw.Addr(i + 1); a != want {
			t.Errorf("machine %d has address %s, want %s", i, a, want)
		}
	}
	// A listener on machine 3's address answers machine 1 across the bridge.
	var ln net.Listener
	if err := Do(hosts[2].Path, func() (err error) {
		ln, err = net.Listen("tcp", addrs[2].String()+":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "from %s", c.RemoteAddr())
			c.Close()
		}
	}()
	tests := []struct {
		name    string
		from    int
		to      string
		wantErr bool
	}{
		{name: "machine to machine", from: 0, to: ln.Addr().String()},
		{name: "second machine", from: 1, to: ln.Addr().String()},
		// The router forwards nothing: the world is unreachable.
		{name: "outside the segment", from: 0, to: "192.0.2.1:80", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			err := Do(hosts[tt.from].Path, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				c, err := (&net.Dialer{}).DialContext(ctx, "tcp", tt.to)
				if err != nil {
					return err
				}
				defer c.Close()
				b, err := io.ReadAll(c)
				got = string(b)
				return err
			})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("dial %s from machine %d succeeded, want it refused or dropped", tt.to, tt.from)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial %s from machine %d: %v", tt.to, tt.from, err)
			}
			if want := "from " + addrs[tt.from].String() + ":"; !strings.HasPrefix(got, want) {
				t.Errorf("answer %q, want it to start with %q (no address translation on the segment)", got, want)
			}
		})
	}
}
