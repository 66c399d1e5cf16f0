package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/client"
)

// TestRetryAfter sends a request refused with 429 and Retry-After again
// (as client-go does), up to a bound, and gives up with the server's
// Status beyond it; a 429 without Retry-After is not retried.
func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		refusals   int32 // answers 429 this many times, then 200
		retryAfter string
		wantCalls  int32
		wantErr    bool
	}{
		{name: "served after two refusals", refusals: 2, retryAfter: "0", wantCalls: 3},
		{name: "gives up after five waits", refusals: 100, retryAfter: "0", wantCalls: 6, wantErr: true},
		{name: "no Retry-After: not retried", refusals: 100, wantCalls: 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) <= tc.refusals {
					if tc.retryAfter != "" {
						w.Header().Set("Retry-After", tc.retryAfter)
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusTooManyRequests)
					_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too many","reason":"TooManyRequests","code":429}`))
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"default"}}`))
			}))
			defer ts.Close()
			c, err := client.New(ts.URL)
			if err != nil {
				t.Fatal(err)
			}
			cm, _ := api.Lookup("configmaps")
			_, err = c.Get(context.Background(), cm, "default", "a")
			var ae *client.APIError
			if tc.wantErr != (err != nil) || (err != nil && (!errors.As(err, &ae) || ae.Status.Code != 429)) {
				t.Fatalf("Get = %v; want error %v (a 429 APIError)", err, tc.wantErr)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Fatalf("server saw %d requests, want %d", got, tc.wantCalls)
			}
		})
	}
}
