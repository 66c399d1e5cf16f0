package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// freezer is a TCP proxy to a server that can stop forwarding, in both
// directions, on every connection: what a client sees of a server that was
// stopped (SIGSTOP) with its connections open.
type freezer struct {
	ln     net.Listener
	frozen chan struct{} // closed: stop forwarding
	once   sync.Once
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, frozen: make(chan struct{})}
	done := make(chan struct{})
	var conns sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		close(done)
		conns.Wait()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			conns.Add(2)
			go f.pipe(&conns, done, c, s)
			go f.pipe(&conns, done, s, c)
		}
	}()
	return f
}

// pipe copies src to dst until either fails, holding what it read while
// frozen, until done.
func (f *freezer) pipe(wg *sync.WaitGroup, done <-chan struct{}, dst, src net.Conn) {
	defer wg.Done()
	defer dst.Close()
	defer src.Close()
	go func() { <-done; src.Close(); dst.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		select {
		case <-f.frozen:
			<-done
			return
		default:
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (f *freezer) freeze() { f.once.Do(func() { close(f.frozen) }) }

// TestHTTP2HealthCheck follows a log over HTTP/2 through a server that
// freezes: the client's ping goes unanswered and the stream ends with an
// error, instead of waiting forever.
func TestHTTP2HealthCheck(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "want HTTP/2, got "+r.Proto, http.StatusHTTPVersionNotSupported)
			return
		}
		_, _ = io.WriteString(w, "first line\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	proxy := newFreezer(t, srv.Listener.Addr().String())
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, err := New("https://"+proxy.ln.Addr().String(),
		WithHTTPClient(&http.Client{Transport: newTransportPinging(&tls.Config{RootCAs: pool}, 100*time.Millisecond, 300*time.Millisecond)}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs, err := c.Logs(ctx, "default", "pod", LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	r := bufio.NewReader(logs)
	if line, err := r.ReadString('\n'); err != nil || line != "first line\n" {
		t.Fatalf("first line = %q, %v", line, err)
	}
	proxy.freeze()
	start := time.Now()
	_, err = r.ReadString('\n')
	if err == nil || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("reading from a frozen server: %v after %s, want the health check to end the stream", err, time.Since(start))
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the stream ended %s after the freeze, want about 400ms", d)
	}
}
