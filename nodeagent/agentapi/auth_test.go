package agentapi_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/nodeagent/agentapi"
	"github.com/bosun-dev/bosun/nodeagent/runtime/runtimetest"
)

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	f.start(t, "app", 0)
	appendLog(t, f.logPath("app", 0), "stdout F hello")
	nodeCert := f.ca.issue(t, "system:node:n2", "system:nodes")
	adminCert := f.ca.issue(t, "admin", "system:masters")
	other := newTestCA(t, "another CA")
	otherCert := other.issue(t, "bosun:apiserver", "system:masters")

	tests := []struct {
		name       string
		cert       *tls.Certificate
		wantCode   int
		wantReason metav1.StatusReason
		wantBody   string // substring
	}{
		{"no certificate", nil, 401, metav1.StatusReasonUnauthorized, "requires a client certificate"},
		{"node certificate", &nodeCert, 403, metav1.StatusReasonForbidden, `user "system:node:n2" (groups ["system:nodes"]) cannot GET /containerLogs/default/web/app`},
		{"apiserver certificate", nil, 200, "", "hello\n"},
		{"another system:masters user", &adminCert, 200, "", "hello\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := httpClient(f.ca, tt.cert)
			if tt.name == "apiserver certificate" {
				hc = f.hc
			}
			code, body := get(t, hc, f.url+"/containerLogs/default/web/app")
			if tt.wantReason != "" {
				var st metav1.Status
				if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" || st.Reason != tt.wantReason || st.Code != int32(tt.wantCode) {
					t.Fatalf("answer %d %q (%v), want a Status with reason %s", code, body, err, tt.wantReason)
				}
				body = st.Message
			}
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("answer %d %q, want %d containing %q", code, body, tt.wantCode, tt.wantBody)
			}
		})
	}

	t.Run("certificate from another CA", func(t *testing.T) {
		resp, err := httpClient(f.ca, &otherCert).Get(f.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("answer %s, want the TLS handshake refused", resp.Status)
		}
		if !strings.Contains(err.Error(), "tls") {
			t.Fatalf("error %v, want a TLS error", err)
		}
	})

	t.Run("a client trusting another CA refuses the agent", func(t *testing.T) {
		apiserverCert := f.ca.issue(t, "bosun:apiserver", "system:masters")
		resp, err := httpClient(other, &apiserverCert).Get(f.url + "/healthz")
		var unknown x509.UnknownAuthorityError
		if err == nil {
			resp.Body.Close()
		}
		if !errors.As(err, &unknown) {
			t.Fatalf("error %v, want x509.UnknownAuthorityError", err)
		}
	})
}

func TestNewChecksTLS(t *testing.T) {
	rt := runtimetest.New(runtimetest.Config{})
	getCert := func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, errors.New("none") }
	pool := x509.NewCertPool()
	tests := []struct {
		name string
		cfg  agentapi.Config
		want string // error substring; "" = ok
	}{
		{"tls", agentapi.Config{GetCertificate: getCert, ClientCAs: pool}, ""},
		{"insecure", agentapi.Config{Insecure: true}, ""},
		{"no certificate", agentapi.Config{ClientCAs: pool}, "Config.GetCertificate"},
		{"no client CA", agentapi.Config{GetCertificate: getCert}, "Config.ClientCAs"},
		{"insecure with a certificate", agentapi.Config{Insecure: true, GetCertificate: getCert}, "takes no GetCertificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Pods, tt.cfg.Runtime = &pods{}, rt
			srv, err := agentapi.New(tt.cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if (srv.TLSConfig() == nil) != tt.cfg.Insecure {
					t.Fatalf("TLSConfig() = %v with Insecure %v", srv.TLSConfig(), tt.cfg.Insecure)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error %v, want one naming %q", err, tt.want)
			}
		})
	}
}

// TestServePlainHTTPToTLS checks a plain-HTTP request to the TLS port is
// refused before it reaches the API.
func TestServePlainHTTPToTLS(t *testing.T) {
	f := newFixture(t)
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(f.url, "https://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	n, _ := conn.Read(buf)
	if got := string(buf[:n]); !strings.HasPrefix(got, "HTTP/1.0 400 Bad Request") || !strings.Contains(got, "HTTPS") {
		t.Fatalf("plain HTTP got %q, want 400 naming HTTPS", got)
	}
}
