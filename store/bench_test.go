package store_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bosun-dev/bosun/api"
	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/encryption"
	"github.com/bosun-dev/bosun/store/storetest"
)

// BenchmarkTxnCreate1000 measures one Txn creating 1,000 Deployments on embedded
// etcd (with fsync), including encoding: the shape of a large Git commit's sync.
func BenchmarkTxnCreate1000(b *testing.B) {
	e := storetest.StartEmbedded(b, storetest.Config(b, b.TempDir()))
	s := store.New(e.Client(), e.StoreOptions())
	ctx := b.Context()
	var size int
	var commit time.Duration
	i := 0
	for b.Loop() {
		txn := s.Txn()
		ns := fmt.Sprintf("bench-%d", i)
		i++
		for j := range 1000 {
			if err := txn.Create(deployment(ns, fmt.Sprintf("app-%04d", j), 3, map[string]string{"app": "bench"})); err != nil {
				b.Fatal(err)
			}
		}
		size = txn.Size()
		start := time.Now()
		if _, err := txn.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		commit += time.Since(start)
	}
	b.ReportMetric(float64(commit.Milliseconds())/float64(b.N), "commit-ms/op")
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "objects/s")
	b.ReportMetric(float64(size), "txn-bytes")
}

// BenchmarkPutLoop is the raw reference: one clientv3 Put per op, one after the
// other, of a value about the size of a stored Deployment.
func BenchmarkPutLoop(b *testing.B) {
	e := storetest.StartEmbedded(b, storetest.Config(b, b.TempDir()))
	c := e.Client()
	ctx := b.Context()
	r, _ := api.Lookup("deploy")
	s := store.New(c, e.StoreOptions())
	d := deployment("default", "app", 3, map[string]string{"app": "bench"})
	if err := s.Create(ctx, d); err != nil {
		b.Fatal(err)
	}
	value, _, err := s.GetRaw(ctx, s.Key(r, "default", "app"))
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if _, err := c.Put(ctx, fmt.Sprintf("/bench/put/%d", i), string(value)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
	b.ReportMetric(float64(len(value)), "value-bytes")
}

// BenchmarkSecretWriteRead measures one Update and one Get of a Secret with
// 1 KiB of data on embedded etcd (with fsync), stored plain and encrypted
// with each provider: the cost of encryption at rest per Secret.
func BenchmarkSecretWriteRead(b *testing.B) {
	keys := "            - name: k1\n              secret: " + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'k'}, 32)) + "\n"
	header := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n"
	for _, bc := range []struct{ name, providers string }{
		{"plain", ""},
		{"aesgcm", "      - aesgcm:\n          keys:\n" + keys},
		{"secretbox", "      - secretbox:\n          keys:\n" + keys},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := storetest.StartEmbedded(b, storetest.Config(b, b.TempDir()))
			opts := e.StoreOptions()
			if bc.providers != "" {
				tr, err := encryption.Parse([]byte(header + bc.providers))
				if err != nil {
					b.Fatal(err)
				}
				opts.Secrets = tr
			}
			s := store.New(e.Client(), opts)
			ctx := b.Context()
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "db"},
				Data: map[string][]byte{"tls.key": bytes.Repeat([]byte{'x'}, 1024)}}
			if err := s.Create(ctx, sec); err != nil {
				b.Fatal(err)
			}
			var got corev1.Secret
			for b.Loop() {
				if err := s.Update(ctx, sec); err != nil {
					b.Fatal(err)
				}
				if err := s.Get(ctx, "prod", "db", &got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
