package pki

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bosun-dev/bosun/api"
)

// issueTo issues a certificate and key for req.
func issueTo(t *testing.T, ca *CA, req Request) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(req)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func TestKeyPairStoreAndLoad(t *testing.T) {
	ca, _ := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "x.crt"), filepath.Join(dir, "x.key")
	req := Request{User: userNamed("x"), Usage: UsageClient}
	certA, keyA := issueTo(t, ca, req)
	certB, keyB := issueTo(t, ca, req)

	kp, err := CreateKeyPair(certFile, keyFile, certA, keyA)
	if err != nil {
		t.Fatalf("CreateKeyPair: %v", err)
	}
	if got := fileMode(t, keyFile); got != 0o600 {
		t.Errorf("key mode %o, want 600", got)
	}
	if gotCert, gotKey := kp.PEM(); string(gotCert) != string(certA) || string(gotKey) != string(keyA) {
		t.Error("PEM does not return the stored pair")
	}

	if err := kp.Store(certA, keyB); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("Store of a mismatched pair = %v, want an error saying the key does not belong", err)
	}
	if got, _ := kp.PEM(); string(got) != string(certA) {
		t.Error("a refused Store changed the pair in memory")
	}

	if err := kp.Store(certB, keyB); err != nil {
		t.Fatalf("Store: %v", err)
	}
	loaded, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("LoadKeyPair: %v", err)
	}
	if got, want := loaded.Current().Leaf.SerialNumber, mustParseCert(t, certB).SerialNumber; got.Cmp(want) != 0 {
		t.Errorf("loaded serial %s, want the stored %s", got, want)
	}
	for _, leftover := range []string{certFile + newSuffix, keyFile + newSuffix} {
		if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("staged file %s left behind (%v)", leftover, err)
		}
	}
}

func TestLoadKeyPairInterruptedStore(t *testing.T) {
	ca, _ := newTestCA(t)
	req := Request{User: userNamed("x"), Usage: UsageClient}
	for _, tc := range []struct {
		name string
		// crash leaves the files as a Store of (certB, keyB) over (certA,
		// keyA) stopped at some step.
		crash      func(t *testing.T, certFile, keyFile string, certB, keyB []byte)
		wantSecond bool
	}{
		{
			name: "staged, nothing renamed",
			crash: func(t *testing.T, certFile, keyFile string, certB, keyB []byte) {
				writeFile(t, certFile+newSuffix, certB)
				writeFile(t, keyFile+newSuffix, keyB)
			},
		},
		{
			name: "key renamed, certificate not",
			crash: func(t *testing.T, certFile, keyFile string, certB, keyB []byte) {
				writeFile(t, certFile+newSuffix, certB)
				writeFile(t, keyFile, keyB)
			},
			wantSecond: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "x.crt"), filepath.Join(dir, "x.key")
			certA, keyA := issueTo(t, ca, req)
			certB, keyB := issueTo(t, ca, req)
			if _, err := CreateKeyPair(certFile, keyFile, certA, keyA); err != nil {
				t.Fatal(err)
			}
			tc.crash(t, certFile, keyFile, certB, keyB)
			kp, err := LoadKeyPair(certFile, keyFile)
			if err != nil {
				t.Fatalf("LoadKeyPair: %v", err)
			}
			want := certA
			if tc.wantSecond {
				want = certB
			}
			if got, _ := kp.PEM(); string(got) != string(want) {
				t.Errorf("loaded the wrong pair (second: %v)", tc.wantSecond)
			}
			if _, err := LoadKeyPair(certFile, keyFile); err != nil {
				t.Errorf("second LoadKeyPair: %v", err)
			}
		})
	}
}

func TestLoadKeyPairMismatch(t *testing.T) {
	ca, _ := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "x.crt"), filepath.Join(dir, "x.key")
	certA, _ := issueTo(t, ca, Request{User: userNamed("x"), Usage: UsageClient})
	_, keyB := issueTo(t, ca, Request{User: userNamed("x"), Usage: UsageClient})
	writeFile(t, certFile, certA)
	writeFile(t, keyFile, keyB)
	_, err := LoadKeyPair(certFile, keyFile)
	if err == nil || !strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("LoadKeyPair = %v, want an error naming %s and the mismatch", err, certFile)
	}
	if _, err := LoadKeyPair(filepath.Join(dir, "none.crt"), keyFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKeyPair of a missing file = %v, want fs.ErrNotExist", err)
	}
}

// TestKeyPairServesRenewed proves that a TLS server built on GetCertificate
// and a client built on GetClientCertificate use a stored pair at the next
// handshake, with no restart.
func TestKeyPairServesRenewed(t *testing.T) {
	ca, _ := newTestCA(t)
	dir := t.TempDir()
	serverReq := Request{User: userNamed("srv"), IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usage: UsageServer}
	clientReq := Request{User: api.NodeUser("n1"), Usage: UsageClient}
	c1, k1 := issueTo(t, ca, serverReq)
	server, err := CreateKeyPair(filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key"), c1, k1)
	if err != nil {
		t.Fatal(err)
	}
	c2, k2 := issueTo(t, ca, clientReq)
	client, err := CreateKeyPair(filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key"), c2, k2)
	if err != nil {
		t.Fatal(err)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		GetCertificate: server.GetCertificate,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		ClientCAs:      ca.Pool(),
		MinVersion:     tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	clientSerials := make(chan string, 4)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			tc := conn.(*tls.Conn)
			if err := tc.Handshake(); err == nil {
				clientSerials <- tc.ConnectionState().PeerCertificates[0].SerialNumber.String()
			} else {
				clientSerials <- "handshake: " + err.Error()
			}
			tc.Close()
		}
	}()
	handshake := func() (serverSerial, clientSerial string) {
		t.Helper()
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
			RootCAs:              ca.Pool(),
			GetClientCertificate: client.GetClientCertificate,
			MinVersion:           tls.VersionTLS12,
		})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), <-clientSerials
	}

	s1, cl1 := handshake()
	if s1 != server.Current().Leaf.SerialNumber.String() || cl1 != client.Current().Leaf.SerialNumber.String() {
		t.Fatalf("first handshake saw server %s client %s, want the stored pairs", s1, cl1)
	}
	c3, k3 := issueTo(t, ca, serverReq)
	c4, k4 := issueTo(t, ca, clientReq)
	if err := server.Store(c3, k3); err != nil {
		t.Fatal(err)
	}
	if err := client.Store(c4, k4); err != nil {
		t.Fatal(err)
	}
	s2, cl2 := handshake()
	if s2 == s1 || s2 != mustParseCert(t, c3).SerialNumber.String() {
		t.Errorf("after Store the server presented %s, want the new %s", s2, mustParseCert(t, c3).SerialNumber)
	}
	if cl2 == cl1 || cl2 != mustParseCert(t, c4).SerialNumber.String() {
		t.Errorf("after Store the client presented %s, want the new %s", cl2, mustParseCert(t, c4).SerialNumber)
	}
}
