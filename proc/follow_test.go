package proc

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// An edge starts from a fresh data directory and follows one replica: a
// data directory with a database of its own is refused and left as it
// was; one asked to follow is recorded as following before the restore
// (so an interrupted one is done again), and another replica is refused.
func TestFollowNeedsAFreshDataDirectory(t *testing.T) {
	ctx := context.Background()
	primary := t.TempDir()
	sys, err := Boot(ctx, Config{DataDir: primary, Version: "v-test", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sys.Close()
	replica := "file://" + t.TempDir()
	_, err = Boot(ctx, Config{DataDir: primary, Version: "v-test", LogOutput: io.Discard, Follow: replica})
	if kernel.KindOf(err) != kernel.Exist || !strings.Contains(err.Error(), "fresh data directory") {
		t.Fatalf("following from a primary's data directory: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(primary, storage.LocalFile)); strings.Contains(string(b), "node.follows") {
		t.Fatalf("the refused start recorded a replica:\n%s", b)
	}
	// The primary still boots as one.
	if sys, err = Boot(ctx, Config{DataDir: primary, Version: "v-test", LogOutput: io.Discard}); err != nil {
		t.Fatal(err)
	}
	sys.Close()

	fresh := t.TempDir()
	_, err = Boot(ctx, Config{DataDir: fresh, Version: "v-test", LogOutput: io.Discard, Follow: replica})
	if err == nil || !strings.Contains(err.Error(), "holds no backup") {
		t.Fatalf("following an empty replica: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fresh, DatabaseFile)); err == nil {
		t.Fatal("a failed restore left a database")
	}
	b, _ := os.ReadFile(filepath.Join(fresh, storage.LocalFile))
	if !strings.Contains(string(b), replica) {
		t.Fatalf("node.json does not record the replica:\n%s", b)
	}
	// Started again without the flag, it tries the same replica.
	if _, err := Boot(ctx, Config{DataDir: fresh, Version: "v-test", LogOutput: io.Discard}); err == nil || !strings.Contains(err.Error(), "holds no backup") {
		t.Fatalf("a restart of an edge: %v", err)
	}
	// A database that does not say which transactions it holds is not
	// taken for an interrupted restore: refused, and kept.
	if err := os.WriteFile(filepath.Join(fresh, DatabaseFile), []byte("not a follower's"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Boot(ctx, Config{DataDir: fresh, Version: "v-test", LogOutput: io.Discard}); kernel.KindOf(err) != kernel.Exist {
		t.Fatalf("an edge's data directory with a database of unknown position: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(fresh, DatabaseFile)); string(b) != "not a follower's" {
		t.Fatal("the database of unknown position was replaced")
	}
	other := "file://" + t.TempDir()
	_, err = Boot(ctx, Config{DataDir: fresh, Version: "v-test", LogOutput: io.Discard, Follow: other})
	if kernel.KindOf(err) != kernel.Invalid || !strings.Contains(err.Error(), "follows one replica") {
		t.Fatalf("following another replica: %v", err)
	}
}
