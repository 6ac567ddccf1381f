package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/internal/fusetest"
)

// Full disks, on a real small file system made by the test: fazt never
// fills the disk itself, refuses what would, always deletes, restarts and
// serves, and uses again the space that deletions free.

// smallDisk is an instance (mounted with extra) whose data directory is on
// a tmpfs of mib MiB.
func smallDisk(t *testing.T, mib int, extra ...string) (*instance, string) {
	t.Helper()
	requireRoot(t)
	fusetest.Require(t)
	small := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", mib), "tmpfs", small).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", small).Run() })
	in := &instance{t: t, home: filepath.Join(small, "data"), mnt: filepath.Join(t.TempDir(), "mnt"), bin: faztBin}
	in.mount(extra...)
	t.Cleanup(in.cleanup)
	return in, small
}

func diskFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fill calls add(0), add(1), ... until one fails, which must be for want of
// space, within limit calls and two minutes. It returns how many succeeded.
func fill(t *testing.T, what string, limit int, add func(i int) error) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; i < limit && time.Now().Before(deadline); i++ {
		if err := add(i); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("%s %d: %v, want ENOSPC", what, i, err)
			}
			t.Logf("%s: %d made before ENOSPC", what, i)
			return i
		}
	}
	t.Fatalf("%s: still no ENOSPC after %d", what, limit)
	return 0
}

// keepFiles writes n files of 1 MB and returns their checksums.
func keepFiles(t *testing.T, in *instance, n int) string {
	t.Helper()
	for i := range n {
		b := make([]byte, 1_000_000)
		rand.Read(b)
		if err := os.WriteFile(in.path(fmt.Sprintf("fs/keep%d", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return keptSums(t, in)
}

func keptSums(t *testing.T, in *instance) string {
	t.Helper()
	return sh(t, "cd "+q(in.path("fs"))+" && find . -maxdepth 1 -type f -name 'keep*' -print0 | sort -z | xargs -0 sha256sum")
}

func storageStatus(t *testing.T, in *instance) string {
	t.Helper()
	b, err := os.ReadFile(in.path("storage/status"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A data write refused for want of space fails with ENOSPC, is logged with
// its cause, and loses nothing.
func TestFullDisk(t *testing.T) {
	in, _ := smallDisk(t, 24)
	before := keepFiles(t, in, 4)
	out, err := shErr("dd if=/dev/urandom of=" + q(in.path("fs/huge")) + " bs=1M count=64")
	if err == nil || !strings.Contains(out, "No space left on device") {
		t.Fatalf("dd onto a full disk: %v\n%s", err, out)
	}
	waitUntil(t, 60*time.Second, func() bool { return strings.Contains(in.log(), "storage: write refused") },
		func() string { return "no refusal logged:\n" + in.log() })
	if after := keptSums(t, in); after != before {
		t.Fatalf("files changed by a failed write:\n%s", diffLines(before, after))
	}
	os.Remove(in.path("fs/huge"))
	if _, err := in.fazt("fs", "umount", in.mnt); err != nil {
		t.Fatal(err)
	}
	in.cleanup()
	integrity(t, in.home)
	in.mount()
	if got := keptSums(t, in); got != before {
		t.Fatalf("after restart:\n%s", diffLines(before, got))
	}
}

// Metadata is held to the reserve like data: symbolic links with long
// targets, directories and routes are refused before the disk is full, and
// deleting them frees room for new writes.
func TestFullDiskMetadata(t *testing.T) {
	in, small := smallDisk(t, 48)
	before := keepFiles(t, in, 4)
	links := in.path("fs/links")
	if err := os.Mkdir(links, 0o755); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("t", 4000)
	made := 0
	fillLinks := func() {
		t.Helper()
		fill(t, "symlinks", 100_000, func(int) error {
			made++
			return os.Symlink(long+strconv.Itoa(made), filepath.Join(links, strconv.Itoa(made)))
		})
	}
	fillLinks()
	if free := diskFree(t, small); free < 2<<20 {
		t.Fatalf("fazt let the disk fill to %d bytes free", free)
	}
	if st := storageStatus(t, in); !strings.Contains(st, "writes refused") {
		t.Fatalf("/storage/status does not say writes are refused:\n%s", st)
	}
	// Each kind of metadata is refused too. A checkpoint may give a little
	// room back in between: fill again before each try, a few times.
	for what, p := range map[string]struct {
		path string
		try  func(string) error
	}{
		"mkdir": {"fs/dir", func(p string) error { return os.Mkdir(p, 0o755) }},
		"route": {"net/routes/full.example", func(p string) error { return os.WriteFile(p, []byte("links\n"), 0o644) }},
		"file":  {"fs/small", func(p string) error { return os.WriteFile(p, []byte("x"), 0o644) }},
	} {
		var err error
		for range 20 {
			if err = p.try(in.path(p.path)); errors.Is(err, syscall.ENOSPC) {
				break
			}
			// It fitted in room a checkpoint gave back: undo, fill, again.
			os.Remove(in.path(p.path))
			fillLinks()
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("%s on a full disk: %v, want ENOSPC", what, err)
		}
	}
	os.Remove(in.path("fs/dir"))
	os.Remove(in.path("fs/small"))
	os.Remove(in.path("net/routes/full.example"))
	if !strings.Contains(in.log(), "storage: write refused") {
		t.Errorf("no refusal logged")
	}

	// Deleting always works, and what it frees inside the database is
	// room for new writes although the database file does not shrink.
	if out, err := shErr("rm -rf " + q(links)); err != nil {
		lines := strings.Split(in.log(), "\n")
		t.Fatalf("rm -rf on a full disk: %v\n%.2000s\n%s\n%s", err, out, storageStatus(t, in), strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	sh(t, "head -c 3000000 /dev/urandom > "+q(in.path("fs/after")))
	if err := os.Mkdir(in.path("fs/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in.path("net/routes/full.example"), []byte("keep0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st := storageStatus(t, in); !strings.Contains(st, "writes ok") {
		t.Fatalf("/storage/status after deleting:\n%s", st)
	}
	afterSum := sh(t, "sha256sum < "+q(in.path("fs/after")))
	in.crash()
	integrity(t, in.home)
	in.mount()
	if got := keptSums(t, in); got != before {
		t.Fatalf("after restart:\n%s", diffLines(before, got))
	}
	if got := sh(t, "sha256sum < "+q(in.path("fs/after"))); got != afterSum {
		t.Fatal("the file written after the deletion changed across the restart")
	}
}

// Data fills the disk to the reserve; a crash there restarts; a vacuum that
// has no room is refused and leaves nothing behind; freed space is used
// again; a deploy onto the full disk fails clearly and leaves no lock.
func TestFullDiskData(t *testing.T) {
	in, small := smallDisk(t, 48)
	before := keepFiles(t, in, 2)
	if err := os.Mkdir(in.path("fs/fill"), 0o755); err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	block := make([]byte, 1_000_000)
	made := 0
	fillUp := func() int {
		t.Helper()
		return fill(t, "1 MB files", 200, func(int) error {
			rand.Read(block)
			name := fmt.Sprintf("fs/fill/%03d", made)
			if err := os.WriteFile(in.path(name), block, 0o644); err != nil {
				os.Remove(in.path(name))
				return err
			}
			s := sha256.Sum256(block)
			sums[name] = hex.EncodeToString(s[:])
			made++
			return nil
		})
	}
	if n := fillUp(); n < 10 {
		t.Fatalf("only %d files fit", n)
	}
	if free := diskFree(t, small); free < 2<<20 {
		t.Fatalf("fazt let the disk fill to %d bytes free", free)
	}
	check := func() {
		t.Helper()
		if got := keptSums(t, in); got != before {
			t.Fatalf("kept files changed:\n%s", diffLines(before, got))
		}
		for name, want := range sums {
			if got, err := fileSum(in.path(name)); err != nil || got != want {
				t.Fatalf("%s: %v, content changed", name, err)
			}
		}
	}

	// A crash on the full disk, then a restart; and full again (the
	// restart checkpointed what the crash left in the WAL).
	in.crash()
	in.mount()
	check()
	fillUp()
	// Truncating frees space, and works on the full disk.
	if err := os.Truncate(in.path("fs/fill/000"), 1000); err != nil {
		t.Fatalf("truncate on a full disk: %v", err)
	}
	delete(sums, "fs/fill/000")

	// A deploy onto the full disk fails, clearly, and leaves no lock.
	src := filepath.Join(t.TempDir(), "site")
	os.MkdirAll(src, 0o755)
	for _, name := range []string{"index.html", "big.bin", "more.bin"} {
		rand.Read(block)
		os.WriteFile(filepath.Join(src, name), block, 0o644)
	}
	if out, err := in.fazt("deploy", src, "site"); err == nil || !strings.Contains(out, "no space") {
		t.Fatalf("deploy onto a full disk: %v\n%s", err, out)
	}

	// A vacuum needs room for a copy of the database: refused, and the
	// WAL and writes are as before.
	if err := os.WriteFile(in.path("storage/ctl"), []byte("vacuum\n"), 0o644); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("vacuum on a full disk: %v, want ENOSPC", err)
	}
	if st := storageStatus(t, in); !strings.Contains(st, "last_vacuum failed") {
		t.Fatalf("status after the refused vacuum:\n%s", st)
	}
	// Deleting half the files lets as much be written again, in the
	// database's free pages.
	var names []string
	for name := range sums {
		names = append(names, name)
	}
	for _, name := range names[:len(names)/2] {
		if err := os.Remove(in.path(name)); err != nil {
			t.Fatal(err)
		}
		delete(sums, name)
	}
	again := 0
	for i := range len(names)/2 - 2 {
		rand.Read(block)
		name := fmt.Sprintf("fs/fill/again%03d", i)
		if err := os.WriteFile(in.path(name), block, 0o644); err != nil {
			t.Fatalf("after deleting %d MB, write %d of 1 MB: %v\n%s", len(names)/2, i, err, storageStatus(t, in))
		}
		s := sha256.Sum256(block)
		sums[name] = hex.EncodeToString(s[:])
		again++
	}
	t.Logf("%d files written again after deleting %d", again, len(names)/2)
	check()

	// Now the deploy has room (once files are deleted), and no lock of
	// the failed one is in its way.
	sh(t, "rm -rf "+q(in.path("fs/fill")))
	sums = map[string]string{}
	if out, err := in.fazt("deploy", src, "site"); err != nil {
		t.Fatalf("deploy after freeing space: %v\n%s", err, out)
	}
	// With the database mostly free, a vacuum gives the space back (it
	// needs room for a copy of what is left).
	sh(t, "rm -rf "+q(in.path("fs/site")))
	freeBefore := diskFree(t, small)
	if err := os.WriteFile(in.path("storage/ctl"), []byte("vacuum\n"), 0o644); err != nil {
		t.Fatalf("vacuum with room: %v\n%s", err, storageStatus(t, in))
	}
	if free := diskFree(t, small); free <= freeBefore+10<<20 {
		t.Fatalf("vacuum gave back %d bytes", free-freeBefore)
	}
	check()
	in.crash()
	integrity(t, in.home)
}

// Something else fills the disk to the last byte while fazt is down: it
// starts anyway, serves every site and file, says that writes are refused,
// deletes, and takes writes again once there is room.
func TestZeroBytesFree(t *testing.T) {
	in, small := smallDisk(t, 48)
	before := keepFiles(t, in, 4)
	url, page := servedSite(t, in)
	in.crash()
	// Fill to the last byte: large blocks, then small ones.
	sh(t, "dd if=/dev/zero of="+q(filepath.Join(small, "filler"))+" bs=1M 2>/dev/null || true; "+
		"dd if=/dev/zero of="+q(filepath.Join(small, "filler2"))+" bs=4k 2>/dev/null || true")
	if free := diskFree(t, small); free != 0 {
		t.Fatalf("could not fill the disk: %d bytes free", free)
	}
	in.mount()
	if got := keptSums(t, in); got != before {
		t.Fatalf("after a start at 0 bytes free:\n%s", diffLines(before, got))
	}
	if got := getBody(t, url); got != page {
		t.Fatalf("the site is not served at 0 bytes free: %q", got)
	}
	if st := procStatus(t, in); !strings.HasPrefix(st["writes"], "refused") {
		t.Fatalf("/proc/status writes = %q, want refused", st["writes"])
	}
	if err := os.WriteFile(in.path("fs/new"), []byte("x"), 0o644); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write at 0 bytes free: %v, want ENOSPC", err)
	}
	// Deleting works even now.
	if err := os.Remove(in.path("fs/keep3")); err != nil {
		t.Fatalf("rm at 0 bytes free: %v\n%s", err, storageStatus(t, in))
	}
	before = keptSums(t, in)
	// Room again: writes come back by themselves.
	os.Remove(filepath.Join(small, "filler"))
	waitUntil(t, time.Minute, func() bool {
		return os.WriteFile(in.path("fs/new"), []byte("back\n"), 0o644) == nil
	}, func() string { return "writes do not come back:\n" + storageStatus(t, in) })
	if st := procStatus(t, in); st["writes"] != "ok" {
		t.Fatalf("/proc/status writes = %q once there is room", st["writes"])
	}
	in.crash()
	integrity(t, in.home)
	in.mount()
	if got := keptSums(t, in); got != before {
		t.Fatalf("after the last restart:\n%s", diffLines(before, got))
	}
}

// getBody fetches url and returns its body, or the error's text.
func getBody(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
