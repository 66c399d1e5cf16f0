package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bosun-dev/bosun/store"
	"github.com/bosun-dev/bosun/store/storetest"
)

// moveKeys is a real layout change for the tests: format 1 keeps widgets
// under /old/, format 2 under /new/. It moves each key in one transaction
// that checks the key is still there, so running it again (after a crash,
// or on two servers) changes nothing more.
func moveKeys(ctx context.Context, c *clientv3.Client) error {
	resp, err := c.Get(ctx, "/old/", clientv3.WithPrefix())
	if err != nil {
		return err
	}
	for _, kv := range resp.Kvs {
		key := string(kv.Key)
		_, err := c.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpPut("/new/"+strings.TrimPrefix(key, "/old/"), string(kv.Value)), clientv3.OpDelete(key)).
			Commit()
		if err != nil {
			return err
		}
	}
	return nil
}

var testMigrations = []store.Migration{
	store.Migrations[0],
	{From: 1, Name: "move /old/ to /new/", Apply: moveKeys},
}

func formatOf(t *testing.T, c *clientv3.Client) string {
	t.Helper()
	resp, err := c.Get(context.Background(), store.FormatKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "<none>"
	}
	return string(resp.Kvs[0].Value)
}

func putAll(t *testing.T, c *clientv3.Client, kvs map[string]string) {
	t.Helper()
	for k, v := range kvs {
		if _, err := c.Put(context.Background(), k, v); err != nil {
			t.Fatal(err)
		}
	}
}

func keysUnder(t *testing.T, c *clientv3.Client, prefix string) map[string]string {
	t.Helper()
	resp, err := c.Get(context.Background(), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range resp.Kvs {
		got[string(kv.Key)] = string(kv.Value)
	}
	return got
}

func TestEnsureFormat(t *testing.T) {
	for _, tc := range []struct {
		name        string
		format      string            // stored before; "" for none
		data        map[string]string // other keys stored before
		target      int
		wantFound   int
		wantInit    bool
		wantApplied int
		wantErr     string
	}{
		{name: "empty store is initialised", target: 1, wantFound: 1, wantInit: true},
		{name: "empty store at format 2", target: 2, wantFound: 2, wantInit: true},
		{name: "pre-versioning store is migrated", data: map[string]string{"/registry/namespaces/a": "{}"}, target: 1, wantApplied: 1},
		{name: "pre-versioning store to format 2", data: map[string]string{"/old/a": "1"}, target: 2, wantApplied: 2},
		{name: "current store is left alone", format: "1", data: map[string]string{"/x": "1"}, target: 1, wantFound: 1},
		{name: "format 1 to 2", format: "1", data: map[string]string{"/old/a": "1"}, target: 2, wantFound: 1, wantApplied: 1},
		{name: "newer store is refused", format: "3", data: map[string]string{"/x": "1"}, target: 2, wantErr: "store: the data dir was written by a newer bosun (store format 3 at /bosun/meta/format; this binary knows up to 2): upgrade this binary or restore a backup"},
		{name: "garbage format", format: "one", target: 1, wantErr: `store: the store format at /bosun/meta/format is "one", not a format number`},
		{name: "negative format", format: "-1", target: 1, wantErr: `is "-1", not a format number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			c := storetest.Start(t).Client()
			putAll(t, c, tc.data)
			if tc.format != "" {
				putAll(t, c, map[string]string{store.FormatKey: tc.format})
			}
			rep, err := store.EnsureFormatWith(ctx, c, tc.target, testMigrations, storetest.Logger(t))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if got := formatOf(t, c); got != tc.format {
					t.Errorf("format after the refusal = %s, want it unchanged %s", got, tc.format)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rep.Found != tc.wantFound || rep.Format != tc.target || rep.Initialized != tc.wantInit || len(rep.Applied) != tc.wantApplied {
				t.Errorf("report = %+v, want found %d, format %d, initialized %v, %d applied", rep, tc.wantFound, tc.target, tc.wantInit, tc.wantApplied)
			}
			if got, want := formatOf(t, c), string(rune('0'+tc.target)); got != want {
				t.Errorf("stored format = %s, want %s", got, want)
			}
			if tc.target == 2 && len(keysUnder(t, c, "/old/")) != 0 {
				t.Errorf("keys left under /old/ after the migration to format 2: %v", keysUnder(t, c, "/old/"))
			}
		})
	}
}

func TestEnsureFormatRefusesNewerWithSentinel(t *testing.T) {
	c := storetest.Start(t).Client()
	putAll(t, c, map[string]string{store.FormatKey: "9"})
	_, err := store.EnsureFormat(context.Background(), c, storetest.Logger(t))
	if !errors.Is(err, store.ErrNewerFormat) {
		t.Fatalf("err = %v, want ErrNewerFormat", err)
	}
}

// TestEnsureFormatTwice runs the migrations twice: the second run finds
// the current format and changes nothing (no new etcd revision).
func TestEnsureFormatTwice(t *testing.T) {
	ctx := context.Background()
	c := storetest.Start(t).Client()
	putAll(t, c, map[string]string{"/old/a": "1", "/old/b": "2", "/registry/namespaces/x": "{}"})
	if _, err := store.EnsureFormatWith(ctx, c, 2, testMigrations, storetest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	before, err := c.Get(ctx, "\x00", clientv3.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := store.EnsureFormatWith(ctx, c, 2, testMigrations, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Found != 2 || len(rep.Applied) != 0 {
		t.Errorf("second run: %+v, want found 2 and nothing applied", rep)
	}
	after, err := c.Get(ctx, "\x00", clientv3.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	if after.Header.Revision != before.Header.Revision {
		t.Errorf("the second run wrote: revision %d -> %d", before.Header.Revision, after.Header.Revision)
	}
	want := map[string]string{"/new/a": "1", "/new/b": "2"}
	if got := keysUnder(t, c, "/new/"); len(got) != 2 || got["/new/a"] != want["/new/a"] || got["/new/b"] != want["/new/b"] {
		t.Errorf("/new/ = %v, want %v", got, want)
	}
}

// TestEnsureFormatAfterCrash leaves the store as a server that crashed
// between a migration and the write of its format leaves it: the
// migration applied (partly: one key moved), the format still the old
// one. The next start runs the migration again and records the format.
func TestEnsureFormatAfterCrash(t *testing.T) {
	ctx := context.Background()
	c := storetest.Start(t).Client()
	putAll(t, c, map[string]string{store.FormatKey: "1", "/old/a": "1", "/old/b": "2"})
	// The crashed run: /old/a moved, then the process died.
	if _, err := c.Txn(ctx).Then(clientv3.OpPut("/new/a", "1"), clientv3.OpDelete("/old/a")).Commit(); err != nil {
		t.Fatal(err)
	}
	rep, err := store.EnsureFormatWith(ctx, c, 2, testMigrations, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Found != 1 || rep.Format != 2 || len(rep.Applied) != 1 {
		t.Errorf("report = %+v, want 1 -> 2 with one migration", rep)
	}
	if got := formatOf(t, c); got != "2" {
		t.Errorf("format = %s, want 2", got)
	}
	got := keysUnder(t, c, "/")
	delete(got, store.FormatKey)
	if len(got) != 2 || got["/new/a"] != "1" || got["/new/b"] != "2" {
		t.Errorf("keys = %v, want /new/a=1 and /new/b=2 only", got)
	}
}

// TestEnsureFormatMissingMigration: a store too old for this binary's
// migrations is refused with what to do.
func TestEnsureFormatMissingMigration(t *testing.T) {
	c := storetest.Start(t).Client()
	putAll(t, c, map[string]string{store.FormatKey: "1"})
	_, err := store.EnsureFormatWith(context.Background(), c, 3, testMigrations, storetest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "no migration from store format 2") {
		t.Fatalf("err = %v, want no migration from store format 2", err)
	}
}
