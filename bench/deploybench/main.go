package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/api"
)

// tool is one way of deploying: run copies src to its target (a fresh one
// per round).
type tool struct {
	name  string
	setup func(round int) // a fresh target
	run   func(src string)
}

func main() {
	fazt := flag.String("fazt", "bin/fazt", "the fazt binary")
	base := flag.String("dir", "/var/tmp/fazt-deploybench", "work directory")
	files := flag.Int("files", 4000, "files in the site")
	mb := flag.Int("mb", 50, "site size, MB")
	rounds := flag.Int("rounds", 3, "rounds (medians)")
	flag.Parse()

	exec.Command("umount", "-l", filepath.Join(*base, "mnt")).Run()
	must(os.RemoveAll(*base))
	must(os.MkdirAll(*base, 0o755))
	bin, err := filepath.Abs(*fazt)
	must(err)
	data, mnt, src := filepath.Join(*base, "data"), filepath.Join(*base, "mnt"), filepath.Join(*base, "src")
	os.Setenv("XDG_CACHE_HOME", filepath.Join(*base, "cache")) // fazt's deploy digests
	makeSite(src, *files, *mb<<20, 0)

	run(bin, "--data", data, "fs", "mount", mnt)
	defer exec.Command(bin, "--data", data, "fs", "umount", "--lazy", mnt).Run()
	port := freePort()
	remote := fmt.Sprintf("http://127.0.0.1:%d", port)
	must(os.WriteFile(filepath.Join(mnt, "net", "http"), []byte(fmt.Sprintf("127.0.0.1:%d\n", port)), 0o644))
	must(os.WriteFile(filepath.Join(mnt, "net", "routes", "*"), []byte("@api\n"), 0o644))
	c := api.Dial(filepath.Join(data, "fazt.sock"))
	tok := mintToken(c)
	obscured := strings.TrimSpace(out(exec.Command("rclone", "obscure", tok)))
	sshPort, sshKey, stopSSH := startSSH(filepath.Join(*base, "ssh"))
	defer stopSSH()
	sshDir := filepath.Join(*base, "ssh-target")

	site := func(name string, round int) string { return fmt.Sprintf("%s%d", name, round) }
	var cur int
	var said string // what the last fazt deploy printed
	tools := []tool{
		{"fazt fs sync, local (socket)", func(r int) { cur = r }, func(s string) {
			said = out(exec.Command(bin, "--data", data, "fs", "sync", s, "/fs/"+site("local", cur), "--delete"))
		}},
		{"fazt fs sync, remote (API over loopback HTTP)", func(r int) { cur = r }, func(s string) {
			cmd := exec.Command(bin, "--remote", remote, "fs", "sync", s, "/fs/"+site("remote", cur), "--delete")
			cmd.Env = append(os.Environ(), "FAZT_TOKEN="+tok)
			said = out(cmd)
		}},
		{"rsync -a --delete into the mount", func(r int) {
			cur = r
			must(os.MkdirAll(filepath.Join(mnt, "fs", site("rsync", r)), 0o755))
		}, func(s string) {
			run("rsync", "-a", "--delete", s+"/", filepath.Join(mnt, "fs", site("rsync", cur))+"/")
		}},
		{"rsync over SSH to a local directory", func(r int) {
			cur = r
			must(os.MkdirAll(filepath.Join(sshDir, site("ssh", r)), 0o755))
		}, func(s string) {
			run("rsync", "-a", "--delete", "-e", fmt.Sprintf("ssh -p %d -i %s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR", sshPort, sshKey),
				s+"/", "root@127.0.0.1:"+filepath.Join(sshDir, site("ssh", cur))+"/")
		}},
		{"rclone sync over WebDAV", func(r int) { cur = r }, func(s string) {
			cmd := exec.Command("rclone", "sync", s, ":webdav:/fs/"+site("rclone", cur), "--webdav-url", remote+"/dav",
				"--webdav-user", "bench", "--webdav-pass", obscured, "--webdav-vendor", "other", "-q")
			cmd.Env = append(os.Environ(), "RCLONE_CONFIG=/dev/null")
			out(cmd)
		}},
	}
	phases := []string{"initial", "no-op", "100 changed"}
	times := map[string]map[string][]time.Duration{}
	for _, t := range tools {
		times[t.name] = map[string][]time.Duration{}
	}
	// fazt stores identical content once and links to it: every tool and
	// round gets content of its own (the same sizes), or fazt's initial
	// deploys after the first would send nothing. What linking saves is
	// measured apart: the same files deployed to a second site.
	linked := map[string][]time.Duration{}
	linkedSaid := map[string]string{}
	for r := 0; r < *rounds; r++ {
		for ti, t := range tools {
			seed := int64(1000*r + 10*ti)
			makeSite(src, *files, *mb<<20, seed)
			t.setup(r)
			for _, ph := range phases {
				if ph == "100 changed" {
					changeFiles(src, 100, seed+1)
				}
				start := time.Now()
				t.run(src)
				times[t.name][ph] = append(times[t.name][ph], time.Since(start))
			}
			if ti < 2 { // fazt: the same files again, to another site
				second := tools[ti]
				cur = r + 100
				start := time.Now()
				second.run(src)
				linked[t.name] = append(linked[t.name], time.Since(start))
				linkedSaid[t.name] = strings.TrimSpace(said)
				cur = r
			}
		}
	}
	fmt.Printf("# deploybench %s: %d files, %d MB, %d rounds, medians\n\n", time.Now().UTC().Format("2006-01-02"), *files, *mb, *rounds)
	fmt.Printf("| tool | %s |\n|---|---:|---:|---:|\n", strings.Join(phases, " | "))
	for _, t := range tools {
		var cells []string
		for _, ph := range phases {
			cells = append(cells, fmt.Sprintf("%.2f s", median(times[t.name][ph]).Seconds()))
		}
		fmt.Printf("| %s | %s |\n", t.name, strings.Join(cells, " | "))
	}
	fmt.Println()
	ref := "rsync over SSH to a local directory"
	for _, t := range tools[:2] {
		var cells []string
		for _, ph := range phases {
			cells = append(cells, fmt.Sprintf("%s %.2fx", ph, float64(median(times[t.name][ph]))/float64(median(times[ref][ph]))))
		}
		fmt.Printf("%s / rsync over SSH: %s\n", t.name, strings.Join(cells, ", "))
	}
	fmt.Println()
	for _, t := range tools[:2] {
		m := median(linked[t.name])
		fmt.Printf("%s, the same files to a second site: %.2f s, %.2fx rsync over SSH's initial (last round: %s)\n",
			t.name, m.Seconds(), float64(m)/float64(median(times[ref]["initial"])), linkedSaid[t.name])
	}
}

// makeSite writes a site of n files totalling about size bytes: the same
// names and sizes every time, content that depends on seed.
func makeSite(dir string, n, size int, seed int64) {
	must(os.RemoveAll(dir))
	sizes := rand.New(rand.NewSource(42))
	content := rand.New(rand.NewSource(seed))
	avg := size / n
	buf := make([]byte, 4*avg)
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("s%02d/d%02d/f%05d.html", i%20, i%37, i))
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		k := avg/4 + sizes.Intn(avg*3/2)
		content.Read(buf[:k])
		must(os.WriteFile(p, buf[:k], 0o644))
	}
	// Same mtimes every time, so rsync's quick check sees unchanged files.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			os.Chtimes(p, t0, t0)
		}
		return nil
	})
}

// changeFiles rewrites n files with new content.
func changeFiles(dir string, n int, seed int64) {
	var all []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			all = append(all, p)
		}
		return nil
	})
	sort.Strings(all)
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < n; i++ {
		p := all[rng.Intn(len(all))]
		b, _ := os.ReadFile(p)
		b = append(b, []byte(fmt.Sprintf("changed %d %d\n", seed, i))...)
		must(os.WriteFile(p, b, 0o644))
	}
}

func mintToken(c *api.Client) string {
	b, err := c.Call(context.Background(), "/security/mint", []byte("bench 1d write:/fs\n"))
	must(err)
	for _, line := range strings.Split(string(b), "\n") {
		if t, ok := strings.CutPrefix(line, "token "); ok {
			return t
		}
	}
	panic("no token")
}

// startSSH runs sshd on loopback with a key for root.
func startSSH(dir string) (int, string, func()) {
	must(os.MkdirAll(dir, 0o700))
	must(os.MkdirAll("/run/sshd", 0o755))
	hostKey, userKey := filepath.Join(dir, "host"), filepath.Join(dir, "user")
	out(exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey))
	out(exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", userKey))
	pub, err := os.ReadFile(userKey + ".pub")
	must(err)
	auth := filepath.Join(dir, "authorized_keys")
	must(os.WriteFile(auth, pub, 0o600))
	port := freePort()
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-p", fmt.Sprint(port), "-h", hostKey,
		"-o", "ListenAddress=127.0.0.1", "-o", "AuthorizedKeysFile="+auth, "-o", "PermitRootLogin=prohibit-password",
		"-o", "UsePAM=no", "-o", "PidFile=none", "-o", "StrictModes=no")
	var logb bytes.Buffer
	cmd.Stderr = &logb
	must(cmd.Start())
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return port, userKey, func() { cmd.Process.Kill(); cmd.Wait() }
		}
		time.Sleep(50 * time.Millisecond)
	}
	panic("sshd did not start: " + logb.String())
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func run(name string, args ...string) { out(exec.Command(name, args...)) }

func out(cmd *exec.Cmd) string {
	b, err := cmd.CombinedOutput()
	if err != nil {
		panic(fmt.Sprintf("%v: %v\n%s", cmd.Args, err, b))
	}
	return string(b)
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
