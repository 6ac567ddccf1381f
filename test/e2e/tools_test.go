package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Tools that walk the whole mount finish: nothing in the tree blocks them
// (the blocking event stream is not listed).
func TestToolsWalkTheWholeTree(t *testing.T) {
	in := newInstance(t)
	if err := os.WriteFile(in.path("fs/hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, c := range []struct{ name, script string }{
		{"grep -r", "grep -r no-such-text " + q(in.mnt)},
		{"tar -c", "tar -cf " + q(out+"/all.tar") + " -C " + q(in.mnt) + " ."},
		{"cp -r", "cp -r " + q(in.mnt) + " " + q(out+"/cp")},
		{"rsync -a", "rsync -a " + q(in.mnt+"/") + " " + q(out+"/rsync/")},
		{"find", "find " + q(in.mnt)},
		{"find -type f -exec cat", "find " + q(in.mnt) + " -type f -exec cat {} +"},
	} {
		// Their exit status is theirs (secrets do not read back, status
		// files change as tar reads them): what matters is that they end.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, "bash", "-c", c.script+" >/dev/null 2>&1")
		cmd.Dir = "/"
		cmd.WaitDelay = 5 * time.Second
		start := time.Now()
		cmd.Run()
		if ctx.Err() != nil {
			t.Errorf("%s over the whole mount did not finish in 2 minutes", c.name)
		} else {
			t.Logf("%s: %v", c.name, time.Since(start).Round(time.Millisecond))
		}
		cancel()
	}
	// What they copied has the recent events, as a file.
	if fi, err := os.Stat(out + "/rsync/proc/events"); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("rsync's copy of /proc/events: %v %v", fi, err)
	}
}

// tail -f still follows the events, pushed as they happen.
func TestTailEvents(t *testing.T) {
	in := newInstance(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tail := exec.CommandContext(ctx, "tail", "-f", in.path("proc/events"))
	tail.Dir = "/"
	stdout, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { tail.Process.Kill(); tail.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// tail may open the stream a little after it starts: write routes
	// until one shows.
	deadline := time.After(time.Minute)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case l := <-lines:
			if strings.Contains(l, "route") {
				return
			}
		case <-tick.C:
			os.WriteFile(in.path("net/routes/tail"+string(rune('a'+i%26))+".example"), []byte("blog\n"), 0o644)
		case <-deadline:
			t.Fatal("tail -f /proc/events showed no route event within a minute")
		}
	}
}
