package client_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bosun-dev/bosun/client"
	"github.com/bosun-dev/bosun/store/storetest"
)

// TestDeleteWithOptions: the DeleteOptions reach the server as the body of
// the DELETE (gracePeriodSeconds, preconditions.uid), and no options send
// no body.
func TestDeleteWithOptions(t *testing.T) {
	zero, uid := int64(0), types.UID("u-1")
	tests := []struct {
		name     string
		opts     metav1.DeleteOptions
		wantBody bool
	}{
		{name: "none", opts: metav1.DeleteOptions{}},
		{name: "grace and uid", opts: metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}},
			wantBody: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var method, path string
			var body []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				method, path = r.Method, r.URL.Path
				body, _ = io.ReadAll(r.Body)
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{}`))
			}))
			defer srv.Close()
			c, err := client.New(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.DeleteWithOptions(ctx(t), storetest.Resource(t, "pods"), "default", "web-1", tt.opts); err != nil {
				t.Fatal(err)
			}
			if method != http.MethodDelete || path != "/api/v1/namespaces/default/pods/web-1" {
				t.Fatalf("request = %s %s", method, path)
			}
			if !tt.wantBody {
				if len(body) != 0 {
					t.Fatalf("body = %s, want none", body)
				}
				return
			}
			var got metav1.DeleteOptions
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if got.GracePeriodSeconds == nil || *got.GracePeriodSeconds != 0 || got.Preconditions == nil ||
				got.Preconditions.UID == nil || *got.Preconditions.UID != uid || got.Kind != "DeleteOptions" {
				t.Fatalf("body = %s", body)
			}
		})
	}
}
