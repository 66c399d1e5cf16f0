package gittest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/bosun-dev/bosun/internal/gittest"
)

func TestRepository(t *testing.T) {
	dir := gittest.Init(t)
	first := gittest.Commit(t, dir, "first", map[string]string{"apps/web.yaml": "web\n", "README.md": "hi\n"})
	second := gittest.Commit(t, dir, "second", map[string]string{"README.md": ""})
	if first == second || len(second) != 40 {
		t.Fatalf("commits %q and %q", first, second)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); !os.IsNotExist(err) {
		t.Errorf("README.md not removed: %v", err)
	}
	bare := gittest.BareClone(t, dir)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"branch", []string{"rev-parse", "--abbrev-ref", "HEAD"}, "main"},
		{"head", []string{"rev-parse", "main"}, second},
		{"author and committer", []string{"log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "main"}, "Jo User <jo@example.com>|Jo User <jo@example.com>|second"},
		{"files of head", []string{"ls-tree", "-r", "--name-only", "main"}, "apps/web.yaml"},
		{"files of the first commit", []string{"ls-tree", "-r", "--name-only", first}, "README.md\napps/web.yaml"},
		{"content, without the trailing newline", []string{"show", first + ":README.md"}, "hi"},
		{"bare", []string{"rev-parse", "--is-bare-repository"}, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gittest.Git(t, bare, tt.args...); got != tt.want {
				t.Errorf("git %v = %q, want %q", tt.args, got, tt.want)
			}
		})
	}
}

func TestArmoredKeys(t *testing.T) {
	alice := gittest.SigningKey(t, "Alice", "alice@example.com")
	bob := gittest.SigningKey(t, "Bob", "bob@example.com")
	two := gittest.ArmoredKeys(t, alice, bob)
	if two != gittest.ArmoredKeys(t, alice)+gittest.ArmoredKeys(t, bob) {
		t.Errorf("two keys are not the two blocks in order:\n%s", two)
	}
	keys, err := openpgp.ReadArmoredKeyRing(strings.NewReader(gittest.ArmoredKeys(t, alice)))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].PrimaryKey.KeyId != alice.PrimaryKey.KeyId {
		t.Fatalf("read back %d keys", len(keys))
	}
	if _, ok := keys[0].Identities["Alice <alice@example.com>"]; !ok {
		t.Errorf("identities %v", keys[0].Identities)
	}
	if keys[0].PrivateKey != nil {
		t.Error("the armored key holds the private key")
	}
}
