package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// target is one file system under test.
type target struct {
	name  string
	dir   string       // where the workloads write
	start func() error // mounts it (nil for the bare directory)
	stop  func()       // unmounts it
	proc  *exec.Cmd    // loopback server
	store []string     // where it keeps what it holds, for the space row
}

type row struct {
	name    string
	unit    string // "s" for times, "MB/s" for throughput, "op/s" for rates
	higher  bool   // higher is better
	samples map[string][]float64
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "loopback" {
		serveLoopback(os.Args[2:])
		return
	}
	fazt := flag.String("fazt", "bin/fazt", "the fazt binary")
	base := flag.String("dir", "/var/tmp/fazt-bench", "work directory, on the disk to measure")
	runs := flag.Int("runs", 3, "runs per workload; the table shows medians")
	files := flag.Int("files", 4000, "files in the rsync site")
	big := flag.Int("bigmb", 1024, "MiB for the sequential rows")
	small := flag.Int("small", 10000, "files in the small-file rows")
	only := flag.String("targets", "bare,loopback,loopback-nopt,juicefs,fazt", "targets to measure")
	juicefsBin := flag.String("juicefs", "bin/juicefs", "the JuiceFS binary (make bench-fs builds it, pinned)")
	workloads := flag.String("workloads", strings.Join(allWorkloads, ","), "workloads to run")
	fioSecs := flag.Int("fio-seconds", 10, "seconds of each fio row")
	flag.Parse()
	want := map[string]bool{}
	for _, w := range strings.Split(*workloads, ",") {
		want[w] = true
	}

	must(os.RemoveAll(*base))
	must(os.MkdirAll(*base, 0o755))
	faztBin, err := filepath.Abs(*fazt)
	must(err)
	self, err := os.Executable()
	must(err)

	fmt.Fprintln(os.Stderr, "preparing inputs...")
	site := filepath.Join(*base, "in", "site")
	site2 := filepath.Join(*base, "in", "site2")
	makeSite(site, *files, 1)
	sh("cp -a " + q(site) + " " + q(site2))
	changeFiles(site2, 100)
	tarball := filepath.Join(*base, "in", "gosrc.tar")
	sh("tar -cf " + q(tarball) + " -C " + q(runtime.GOROOT()) + " src")
	randFile := filepath.Join(*base, "in", "rand.bin")
	if want["seq"] {
		sh(fmt.Sprintf("head -c %d /dev/urandom > %s && cat %s > /dev/null", int64(*big)<<20, q(randFile), q(randFile)))
	}
	repo := filepath.Join(*base, "in", "repo")
	if want["git"] {
		makeRepo(repo, runtime.GOROOT())
	}
	cproject, err := filepath.Abs("test/conformance/pjdfstest-85a8aea9e685.tar.gz")
	must(err)

	loopbackBin := filepath.Join(*base, "loopback")
	build := exec.Command("go", "build", "-o", loopbackBin, "github.com/hanwen/go-fuse/v2/example/loopback")
	if out, err := build.CombinedOutput(); err != nil {
		fatal(fmt.Sprintf("build go-fuse's loopback (run from the module): %v\n%s", err, out))
	}

	var targets []*target
	for _, name := range strings.Split(*only, ",") {
		t := &target{name: name}
		switch name {
		case "bare":
			t.dir = filepath.Join(*base, "bare")
			must(os.MkdirAll(t.dir, 0o755))
			t.store = []string{t.dir}
		case "loopback", "loopback-nopt":
			data := filepath.Join(*base, name+"-data")
			mnt := filepath.Join(*base, name+"-mnt")
			must(os.MkdirAll(data, 0o755))
			must(os.MkdirAll(mnt, 0o755))
			t.dir = mnt
			t.store = []string{data}
			args := []string{"-q", "-directmount", data, mnt}
			bin := loopbackBin
			if name == "loopback-nopt" {
				bin, args = self, []string{"loopback", "-nopassthrough", data, mnt}
			}
			t.start = func() error { return startLoopback(t, bin, args) }
			t.stop = func() {
				syscall.Unmount(mnt, syscall.MNT_DETACH)
				t.proc.Process.Signal(syscall.SIGTERM)
				t.proc.Wait()
			}
		case "juicefs":
			jfs, err := filepath.Abs(*juicefsBin)
			must(err)
			meta := "sqlite3://" + filepath.Join(*base, "juicefs-meta.db")
			mnt := filepath.Join(*base, "juicefs-mnt")
			must(os.MkdirAll(mnt, 0o755))
			t.dir = mnt
			t.store = []string{filepath.Join(*base, "juicefs-meta.db"), filepath.Join(*base, "juicefs-meta.db-wal"), filepath.Join(*base, "juicefs-data")}
			t.start = func() error {
				if out, err := exec.Command(jfs, "--quiet", "format", "--no-update", "--storage", "file",
					"--bucket", filepath.Join(*base, "juicefs-data")+"/", meta, "bench").CombinedOutput(); err != nil {
					return fmt.Errorf("juicefs format: %v: %s", err, out)
				}
				// Its defaults, less the hourly metadata backup, which
				// would land in some row of a long run.
				return startLoopback(t, jfs, []string{"--quiet", "mount", "--no-usage-report", "--backup-meta", "0",
					"--cache-dir", filepath.Join(*base, "juicefs-cache"), meta, mnt})
			}
			t.stop = func() {
				syscall.Unmount(mnt, syscall.MNT_DETACH)
				t.proc.Process.Signal(syscall.SIGTERM)
				t.proc.Wait()
			}
		case "fazt":
			data := filepath.Join(*base, "fazt-data")
			mnt := filepath.Join(*base, "fazt-mnt")
			t.dir = filepath.Join(mnt, "fs")
			t.store = []string{data}
			t.start = func() error {
				out, err := exec.Command(faztBin, "--data", data, "fs", "mount", mnt).CombinedOutput()
				if err != nil {
					return fmt.Errorf("%v: %s", err, out)
				}
				return nil
			}
			t.stop = func() { exec.Command(faztBin, "--data", data, "fs", "umount", "--lazy", mnt).Run() }
		default:
			fatal("unknown target " + name)
		}
		targets = append(targets, t)
	}
	cleanupOnSignal()
	for _, t := range targets {
		if t.start != nil {
			must(t.start())
		}
		if t.stop != nil {
			addCleanup(t.stop)
		}
	}
	defer cleanup()

	rows := map[string]*row{}
	var order []string
	record := func(name, unit string, higher bool, tgt string, v float64) {
		r := rows[name]
		if r == nil {
			r = &row{name: name, unit: unit, higher: higher, samples: map[string][]float64{}}
			rows[name] = r
			order = append(order, name)
		}
		r.samples[tgt] = append(r.samples[tgt], v)
	}
	timeIt := func(script string) float64 {
		start := time.Now()
		sh(script)
		return time.Since(start).Seconds()
	}
	root := os.Geteuid() == 0
	dropCaches := func() {
		if root {
			sh("sync; echo 3 > /proc/sys/vm/drop_caches")
		}
	}

	for run := 1; run <= *runs; run++ {
		for _, t := range targets {
			fmt.Fprintf(os.Stderr, "run %d/%d: %s\n", run, *runs, t.name)
			if want["rsync"] {
				dst := filepath.Join(t.dir, "site")
				record(fmt.Sprintf("rsync -a, %d-file site, initial", *files), "s", false, t.name,
					timeIt("rsync -a "+q(site+"/")+" "+q(dst+"/")))
				record("rsync -a, no-op", "s", false, t.name,
					timeIt("rsync -a "+q(site+"/")+" "+q(dst+"/")))
				record("rsync -a, 100 files changed", "s", false, t.name,
					timeIt("rsync -a "+q(site2+"/")+" "+q(dst+"/")))
				sh("rm -rf " + q(dst))
			}

			if want["tree"] {
				gosrc := filepath.Join(t.dir, "gosrc")
				must(os.MkdirAll(gosrc, 0o755))
				record("tar -x, Go source tree", "s", false, t.name,
					timeIt("tar -xf "+q(tarball)+" -C "+q(gosrc)))
				dropCaches()
				record("ls -lR, Go source tree (cold)", "s", false, t.name,
					timeIt("ls -lR "+q(gosrc)+" > /dev/null"))
				dropCaches()
				record("find, Go source tree (cold)", "s", false, t.name,
					timeIt("find "+q(gosrc)+" > /dev/null"))
				dropCaches()
				// No line matches: grep reads every file to the end.
				record("grep -r, Go source tree (cold)", "s", false, t.name,
					timeIt("grep -r -q fazt-bench-matches-nothing "+q(gosrc)+" || [ $? -eq 1 ]"))
				sh("rm -rf " + q(gosrc))
			}

			if want["git"] {
				clone := filepath.Join(t.dir, "repo")
				record("git clone (Go tree, 2 tags)", "s", false, t.name,
					timeIt("git clone -q --no-local "+q(repo)+" "+q(clone)))
				dropCaches()
				record("git status (cold)", "s", false, t.name,
					timeIt("git -C "+q(clone)+" status --porcelain > /dev/null"))
				record("git checkout of the other tag", "s", false, t.name,
					timeIt("git -C "+q(clone)+" checkout -q v1"))
				sh("rm -rf " + q(clone))
			}

			if want["make"] {
				proj := filepath.Join(t.dir, "cproject")
				must(os.MkdirAll(proj, 0o755))
				sh("tar -xzf " + q(cproject) + " -C " + q(proj) + " --strip-components=1")
				record("autoreconf + configure + make, a C project", "s", false, t.name,
					timeIt("cd "+q(proj)+" && autoreconf -ifs >/dev/null 2>&1 && ./configure -q >/dev/null && make -s >/dev/null 2>&1"))
				sh("rm -rf " + q(proj))
			}

			if want["seq"] {
				bigFile := filepath.Join(t.dir, "big.bin")
				w := timeIt(fmt.Sprintf("dd if=%s of=%s bs=1M conv=fsync status=none", q(randFile), q(bigFile)))
				record(fmt.Sprintf("sequential write, %d MiB", *big), "MB/s", true, t.name, float64(*big)*1.048576/w)
				dropCaches()
				r := timeIt(fmt.Sprintf("dd if=%s of=/dev/null bs=1M status=none", q(bigFile)))
				record(fmt.Sprintf("sequential read, %d MiB (cold)", *big), "MB/s", true, t.name, float64(*big)*1.048576/r)
				must(os.Remove(bigFile))
			}

			if want["fio"] {
				f := filepath.Join(t.dir, "fio.bin")
				fio(f, "write", "--bs=1M", "--size=256M")
				dropCaches()
				record(fmt.Sprintf("fio 4 KiB random reads, cold, %d s", *fioSecs), "op/s", true, t.name,
					fio(f, "randread", "--bs=4k", "--size=256M", "--time_based", fmt.Sprintf("--runtime=%d", *fioSecs)))
				record(fmt.Sprintf("fio 4 KiB random writes + fsync, %d s", *fioSecs), "op/s", true, t.name,
					fio(f, "randwrite", "--bs=4k", "--size=256M", "--fsync=1", "--time_based", fmt.Sprintf("--runtime=%d", *fioSecs)))
				must(os.Remove(f))
			}

			if want["small"] {
				for phase, rate := range smallFiles(filepath.Join(t.dir, "small"), *small) {
					record(fmt.Sprintf("%d small files: %s", *small, phaseNames[phase]), "op/s", true, t.name, rate)
				}
				sh("rm -rf " + q(filepath.Join(t.dir, "small")))
			}

			// Everything the run wrote is deleted: what the disk still
			// holds once the target has settled (a minute at most).
			record("disk used once the run's files are deleted", "MB", false, t.name, settledUsage(t.store)/1e6)
		}
	}
	report(order, rows, targets, *runs)
}

// allWorkloads are the groups -workloads chooses from, in the order they run.
var allWorkloads = []string{"rsync", "tree", "git", "make", "seq", "fio", "small"}

var phaseNames = []string{"create 1 KiB", "stat", "read", "unlink"}

// smallFiles creates n 1 KiB files in 100 directories, stats, reads and
// unlinks them, and returns each phase's rate in files per second.
func smallFiles(dir string, n int) []float64 {
	must(os.MkdirAll(dir, 0o755))
	for d := 0; d < 100; d++ {
		must(os.MkdirAll(filepath.Join(dir, fmt.Sprint(d)), 0o755))
	}
	name := func(i int) string { return filepath.Join(dir, fmt.Sprint(i%100), fmt.Sprintf("f%05d", i)) }
	data := bytes.Repeat([]byte("x"), 1024)
	buf := make([]byte, 2048)
	phases := []func(int){
		func(i int) { must(os.WriteFile(name(i), data, 0o644)) },
		func(i int) { _, err := os.Stat(name(i)); must(err) },
		func(i int) {
			f, err := os.Open(name(i))
			must(err)
			f.Read(buf)
			f.Close()
		},
		func(i int) { must(os.Remove(name(i))) },
	}
	rates := make([]float64, len(phases))
	for p, fn := range phases {
		start := time.Now()
		for i := 0; i < n; i++ {
			fn(i)
		}
		rates[p] = float64(n) / time.Since(start).Seconds()
	}
	return rates
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func report(order []string, rows map[string]*row, targets []*target, runs int) {
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "Medians of %d runs, %s, %d CPUs, kernel %s.\n\n", runs, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), kernelRelease())
	var peers []string
	for _, name := range []string{"loopback-nopt", "juicefs", "loopback", "bare"} {
		for _, t := range targets {
			if t.name == name {
				peers = append(peers, name)
			}
		}
	}
	fmt.Fprint(w, "| workload | unit |")
	for _, t := range targets {
		fmt.Fprintf(w, " %s |", t.name)
	}
	for _, p := range peers {
		fmt.Fprintf(w, " fazt / %s |", p)
	}
	fmt.Fprint(w, "\n|---|---|")
	for range len(targets) + len(peers) {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, name := range order {
		r := rows[name]
		fmt.Fprintf(w, "| %s | %s |", name, r.unit)
		med := map[string]float64{}
		for _, t := range targets {
			med[t.name] = median(r.samples[t.name])
			fmt.Fprintf(w, " %s |", num(med[t.name]))
		}
		// Ratios say how many times slower fazt is (time rows) or what
		// fraction of the peer's throughput it reaches (rate rows).
		for _, peer := range peers {
			f, p := med["fazt"], med[peer]
			// A peer that keeps (next to) nothing has no ratio.
			if f == 0 || p == 0 || (r.unit == "MB" && p < 1) {
				fmt.Fprint(w, " - |")
				continue
			}
			fmt.Fprintf(w, " %.2fx |", f/p)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\nTime rows (s): the ratio is fazt's time over the peer's, lower is better.")
	fmt.Fprintln(w, "Rate rows (MB/s, op/s): the ratio is fazt's rate over the peer's, higher is better.")
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func kernelRelease() string {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return "?"
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

func startLoopback(t *target, bin string, args []string) error {
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/"
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	t.proc = cmd
	for i := 0; i < 200; i++ {
		if mounted(t.dir) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not mount", t.name)
}

func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	return err == nil && bytes.Contains(b, []byte(" "+dir+" "))
}

// makeSite writes n files (~12 KB average, a few of 1 MB) in nested dirs.
func makeSite(dir string, n int, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("s%02d/d%02d/f%05d.html", i%20, i%50, i))
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		size := rng.Intn(20_000)
		if i%400 == 0 {
			size = 1 << 20
		}
		b := make([]byte, size)
		rng.Read(b)
		must(os.WriteFile(p, b, 0o644))
	}
}

// settledUsage is the disk space the paths take, once it has stopped
// falling (polled every 2 s, for at most a minute).
func settledUsage(paths []string) float64 {
	usage := func() float64 {
		var n int64
		for _, p := range paths {
			filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
				if err == nil {
					if st, ok := fi.Sys().(*syscall.Stat_t); ok {
						n += st.Blocks * 512
					}
				}
				return nil
			})
		}
		return float64(n)
	}
	last := usage()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		time.Sleep(2 * time.Second)
		now := usage()
		if now >= last {
			return now
		}
		last = now
	}
	return last
}

// makeRepo makes a git repository of the Go source tree with two tags: v1,
// and v2, which changes a tenth of the files, deletes a twentieth and adds
// 200. A clone checks out v2; checking out v1 rewrites about 2,000 files.
func makeRepo(dir, goroot string) {
	sh(`mkdir -p ` + q(dir) + ` && cd ` + q(dir) + ` && git init -q && git config gc.auto 0 && cp -a ` + q(filepath.Join(goroot, "src")) + ` . &&
git add -A && git -c user.name=bench -c user.email=bench@fazt commit -qm v1 && git tag v1 &&
git ls-files | awk 'NR%10==0' | while read -r f; do echo '// changed' >> "$f"; done &&
git ls-files | awk 'NR%20==5' | xargs git rm -q &&
for i in $(seq 200); do echo "$i" > "new$i.txt"; done &&
git add -A && git -c user.name=bench -c user.email=bench@fazt commit -qm v2 && git tag v2 && git gc -q`)
}

// fio runs one fio job on file and returns its rate in operations per
// second (reads, or writes for a write job).
func fio(file, rw string, args ...string) float64 {
	a := append([]string{"--name=bench", "--filename=" + file, "--rw=" + rw,
		"--ioengine=psync", "--end_fsync=1", "--output-format=json"}, args...)
	out, err := exec.Command("fio", a...).Output()
	if err != nil {
		fatal(fmt.Sprintf("fio %s: %v\n%s", strings.Join(a, " "), err, out))
	}
	var res struct {
		Jobs []struct {
			Read, Write struct{ IOPS float64 }
		}
	}
	if i := bytes.IndexByte(out, '{'); i >= 0 {
		out = out[i:]
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Jobs) == 0 {
		fatal(fmt.Sprintf("fio output: %v\n%s", err, out))
	}
	if strings.Contains(rw, "read") {
		return res.Jobs[0].Read.IOPS
	}
	return res.Jobs[0].Write.IOPS
}

// changeFiles rewrites n files of a site with new content.
func changeFiles(dir string, n int) {
	var all []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			all = append(all, p)
		}
		return nil
	})
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < n; i++ {
		p := all[(i*len(all))/n]
		b := make([]byte, rng.Intn(20_000))
		rng.Read(b)
		must(os.WriteFile(p, b, 0o644))
	}
}

func sh(script string) {
	cmd := exec.Command("bash", "-c", "set -eo pipefail\n"+script)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		fatal(fmt.Sprintf("%s: %v\n%s", script, err, out))
	}
}

func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func must(err error) {
	if err != nil {
		fatal(err.Error())
	}
}

// cleanups unmount what fsbench mounted, also when it fails or is
// interrupted.
var (
	cleanupMu sync.Mutex // guards cleanups
	cleanups  []func()
)

func addCleanup(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func cleanup() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for _, c := range cleanups {
		c()
	}
	cleanups = nil
}

// cleanupOnSignal unmounts and stops the servers on SIGINT or SIGTERM
// (an interrupted run left its mounts and processes behind).
func cleanupOnSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		fmt.Fprintln(os.Stderr, "fsbench: interrupted by", <-sig)
		cleanup()
		os.Exit(1)
	}()
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "fsbench:", msg)
	cleanup()
	os.Exit(1)
}
