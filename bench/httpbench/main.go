package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// file is one of the single files the bench makes.
type file struct {
	row, name string
	size      int
}

var files = []file{
	{"small HTML page (2 KB)", "index.html", 2 << 10},
	{"asset (100 KB)", "app.js", 100 << 10},
	{"large file (5 MB)", "big.bin", 5 << 20},
}

// row is one line of the table: one URL, or a site's URLs in rotation,
// asked for with or without compression.
type row struct {
	name       string
	paths      []string
	compressed bool // Accept-Encoding: gzip, br
}

// server is one contender, listening on addr once started.
type server struct {
	name string
	addr string
	cmd  *exec.Cmd
}

func main() {
	fazt := flag.String("fazt", "bin/fazt", "the fazt binary")
	base := flag.String("dir", "/var/tmp/fazt-httpbench", "work directory")
	dur := flag.Duration("d", 5*time.Second, "duration of one wrk run")
	rounds := flag.Int("rounds", 3, "interleaved rounds; medians are reported")
	conns := flag.Int("c", 50, "connections")
	docs := flag.String("site", "/usr/share/doc/python3/html", "a real multi-file site (Python's HTML docs; make bench-http installs python3-doc); empty: no site rows")
	nurls := flag.Int("urls", 1000, "URLs of the site in rotation")
	flag.Parse()
	for _, tool := range []string{"wrk", "nginx", "caddy"} {
		if _, err := exec.LookPath(tool); err != nil {
			fail(fmt.Errorf("%s is missing (make bench-http installs it): %w", tool, err))
		}
	}

	must(os.RemoveAll(*base))
	root := filepath.Join(*base, "site")
	must(os.MkdirAll(root, 0o755))
	must(os.Chmod(*base, 0o755)) // nginx's workers run as nobody
	rnd := rand.New(rand.NewSource(1))
	for _, f := range files {
		b := make([]byte, f.size)
		if strings.HasSuffix(f.name, ".bin") {
			rnd.Read(b)
		} else {
			words := []string{"<p>", "fazt ", "serves ", "sites ", "from ", "SQLite ", "</p>\n"}
			var buf bytes.Buffer
			for buf.Len() < f.size {
				buf.WriteString(words[rnd.Intn(len(words))])
			}
			b = buf.Bytes()[:f.size]
		}
		must(os.WriteFile(filepath.Join(root, f.name), b, 0o644))
	}
	var rows []row
	for _, f := range files {
		rows = append(rows, row{name: f.row, paths: []string{"/" + f.name}})
	}
	if *docs != "" {
		paths := copySite(*docs, filepath.Join(root, "docs"), rnd, *nurls)
		name := fmt.Sprintf("%s, %d URLs in rotation", filepath.Base(filepath.Dir(*docs))+" docs", len(paths))
		rows = append(rows, row{name: name, paths: paths}, row{name: name + ", gzip/br", paths: paths, compressed: true})
	}

	bin, err := filepath.Abs(*fazt)
	must(err)
	servers := []*server{startFazt(bin, *base, root), startCaddy(*base, root), startNginx(*base, root)}
	defer stopAll()
	for _, s := range servers {
		waitServing(s)
	}
	faztPID := servers[0].cmd.Process.Pid
	time.Sleep(time.Second)
	idle := residentSet(faztPID)
	if *docs != "" {
		// Every server has seen every URL once (nginx and Caddy from the
		// page cache, fazt with its forms made) before anything is timed:
		// the rows measure a site in service, not its first visitors.
		start := time.Now()
		for _, s := range servers {
			warm(s, rows[len(rows)-1].paths)
		}
		waitStored(bin, filepath.Join(*base, "fazt-data"))
		for _, s := range servers {
			warm(s, rows[len(rows)-1].paths)
		}
		fmt.Printf("warmed up in %v (fazt's forms made)\n", time.Since(start).Round(time.Second))
	}

	type result struct {
		rps, p99, mbps []float64
		anon           int64 // fazt's peak anonymous memory
	}
	res := map[string]*result{}
	var peak memory
	scripts := filepath.Join(*base, "wrk")
	must(os.MkdirAll(scripts, 0o755))
	for round := 0; round < *rounds; round++ {
		for i, rw := range rows {
			script := ""
			if len(rw.paths) > 1 {
				script = filepath.Join(scripts, fmt.Sprintf("row%d.lua", i))
				must(os.WriteFile(script, rotation(rw.paths), 0o644))
			}
			for _, s := range servers {
				stop := make(chan memory)
				if s == servers[0] {
					go func() { stop <- peakResidentSet(faztPID, *dur) }()
				}
				rps, p99, mbps := runWrk("http://"+s.addr+rw.paths[0], script, rw.compressed, *dur, *conns)
				k := rw.name + "|" + s.name
				if res[k] == nil {
					res[k] = &result{}
				}
				if s == servers[0] {
					m := <-stop
					peak.anon, peak.file = max(peak.anon, m.anon), max(peak.file, m.file)
					res[k].anon = max(res[k].anon, m.anon)
				}
				res[k].rps = append(res[k].rps, rps)
				res[k].p99 = append(res[k].p99, p99)
				res[k].mbps = append(res[k].mbps, mbps)
			}
		}
	}

	fmt.Printf("\nhttpbench: wrk -t2 -c%d -d%v, %d interleaved rounds (medians); %s, %d CPUs, GOMAXPROCS %d\n",
		*conns, *dur, *rounds, runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Println("\n| row | server | requests/s | p99 latency | MB/s sent | fazt / this (req/s) | fazt / this (p99) |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|")
	for _, rw := range rows {
		f := res[rw.name+"|fazt"]
		faztRPS, faztP99 := median(f.rps), median(f.p99)
		for _, s := range servers {
			r := res[rw.name+"|"+s.name]
			rps, p99 := median(r.rps), median(r.p99)
			fmt.Printf("| %s | %s | %.0f | %.2f ms | %.1f | %.2fx | %.2fx |\n", rw.name, s.name, rps, p99, median(r.mbps), faztRPS/rps, faztP99/p99)
		}
	}
	fmt.Println("\n| row | fazt's peak anonymous memory |\n|---|---:|")
	for _, rw := range rows {
		fmt.Printf("| %s | %.1f MiB |\n", rw.name, mib(res[rw.name+"|fazt"].anon))
	}
	fmt.Printf("\nfazt resident memory: %.1f MiB idle (%.1f MiB anonymous, %.1f MiB mapped files: the database);"+
		" at its peak under load %.1f MiB anonymous, %.1f MiB mapped files\n",
		mib(idle.anon+idle.file), mib(idle.anon), mib(idle.file), mib(peak.anon), mib(peak.file))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// copySite copies a site's files (links followed, so that every server
// serves the same bytes) to dst and returns up to n of their URL paths
// under /docs, in a fixed random order.
func copySite(src, dst string, rnd *rand.Rand, n int) []string {
	if _, err := os.Stat(src); err != nil {
		fail(fmt.Errorf("the site to serve: %w (make bench-http installs python3-doc; -site '' leaves the site rows out)", err))
	}
	run("cp", "-rL", src+"/.", dst)
	var paths []string
	must(filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		if hiddenPath(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			paths = append(paths, "/docs/"+filepath.ToSlash(rel))
		}
		return nil
	}))
	sort.Strings(paths)
	rnd.Shuffle(len(paths), func(i, j int) { paths[i], paths[j] = paths[j], paths[i] })
	return paths[:min(n, len(paths))]
}

// hiddenPath says whether a path has a component starting with '.', which
// fazt does not serve.
func hiddenPath(rel string) bool {
	for _, c := range strings.Split(filepath.ToSlash(rel), "/") {
		if strings.HasPrefix(c, ".") && c != "." {
			return true
		}
	}
	return false
}

// warm asks a server for each path, whole and compressed.
func warm(s *server, paths []string) {
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	for _, p := range paths {
		for _, ae := range []string{"identity", "gzip, br"} {
			req, _ := http.NewRequest(http.MethodGet, "http://"+s.addr+p, nil)
			req.Header.Set("Accept-Encoding", ae)
			resp, err := tr.RoundTrip(req)
			must(err)
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			must(err)
			if resp.StatusCode != http.StatusOK {
				fail(fmt.Errorf("%s %s: %s", s.name, p, resp.Status))
			}
		}
	}
}

// waitStored waits, five minutes at most, until fazt has no forms left to
// make (store_queued in /net/status).
func waitStored(bin, data string) {
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command(bin, "--data", data, "net", "status", "--raw").Output()
		must(err)
		if regexp.MustCompile(`(?m)^store_queued 0$`).Match(out) {
			return
		}
	}
	fail(fmt.Errorf("fazt still makes forms after five minutes"))
}

// rotation is a wrk script that asks for paths in turn.
func rotation(paths []string) []byte {
	var b bytes.Buffer
	b.WriteString("local paths = {\n")
	for _, p := range paths {
		fmt.Fprintf(&b, "  %q,\n", p)
	}
	b.WriteString("}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n")
	return b.Bytes()
}

// startFazt deploys the files to a fresh data directory with the CLI (the
// catch-all route "*" names the site) and starts a kernel on it.
func startFazt(bin, base, root string) *server {
	data := filepath.Join(base, "fazt-data")
	addr := freeAddr()
	run(bin, "--data", data, "net", "http", addr)
	run(bin, "--data", data, "net", "https", "off")
	run(bin, "--data", data, "fs", "put", "-r", root, "/fs/bench")
	run(bin, "--data", data, "net", "route", "add", "*", "bench")
	cmd := exec.Command(bin, "--data", data, "proc", "start")
	cmd.Stderr = os.Stderr
	must(cmd.Start())
	started = append(started, cmd)
	return &server{name: "fazt", addr: addr, cmd: cmd}
}

// startCaddy serves root with Caddy's file_server: no admin API, no
// automatic HTTPS, no access log (as fazt and nginx here), gzip for the
// clients that take it.
func startCaddy(base, root string) *server {
	addr := freeAddr()
	conf := filepath.Join(base, "Caddyfile")
	must(os.WriteFile(conf, []byte(fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\nhttp://%s {\n\troot * %s\n\tencode gzip\n\tfile_server\n}\n", addr, root)), 0o644))
	cmd := exec.Command("caddy", "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+base, "XDG_DATA_HOME="+base, "XDG_CONFIG_HOME="+base)
	must(cmd.Start())
	started = append(started, cmd)
	return &server{name: "caddy", addr: addr, cmd: cmd}
}

// startNginx serves root with nginx's usual static settings: a worker per
// CPU, sendfile, no access log, gzip (level 1, its default) for the text
// types and the clients that take it.
func startNginx(base, root string) *server {
	addr := freeAddr()
	dir := filepath.Join(base, "nginx")
	must(os.MkdirAll(dir, 0o755))
	conf := filepath.Join(dir, "nginx.conf")
	must(os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
worker_processes auto;
error_log stderr warn;
pid %[1]s/nginx.pid;
events { worker_connections 4096; }
http {
	include /etc/nginx/mime.types;
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	gzip on;
	gzip_types text/css text/plain text/javascript application/javascript application/json application/xml image/svg+xml;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s;
		root %[3]s;
	}
}
`, dir, addr, root)), 0o644))
	cmd := exec.Command("nginx", "-p", dir, "-c", conf)
	cmd.Stderr = os.Stderr
	must(cmd.Start())
	started = append(started, cmd)
	return &server{name: "nginx", addr: addr, cmd: cmd}
}

// runWrk loads url (with script, the paths it rotates through) and returns
// requests/s, the p99 latency in ms and the MB/s received.
func runWrk(url, script string, compressed bool, d time.Duration, conns int) (float64, float64, float64) {
	args := []string{"-t2", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency"}
	if script != "" {
		args = append(args, "-s", script)
	}
	if compressed {
		args = append(args, "-H", "Accept-Encoding: gzip, br")
	}
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		fail(fmt.Errorf("wrk %s: %v\n%s", url, err, out))
	}
	s := string(out)
	if m := regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`).FindStringSubmatch(s); m != nil {
		fail(fmt.Errorf("%s answered errors:\n%s", url, s))
	}
	m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindStringSubmatch(s)
	p := regexp.MustCompile(`\s99%\s+([\d.]+)(us|ms|s)`).FindStringSubmatch(s)
	t := regexp.MustCompile(`Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)`).FindStringSubmatch(s)
	if m == nil || p == nil || t == nil {
		fail(fmt.Errorf("cannot read wrk's output:\n%s", s))
	}
	rps, _ := strconv.ParseFloat(m[1], 64)
	lat, _ := strconv.ParseFloat(p[1], 64)
	switch p[2] {
	case "us":
		lat /= 1000
	case "s":
		lat *= 1000
	}
	mbps, _ := strconv.ParseFloat(t[1], 64)
	mbps *= map[string]float64{"B": 1.0 / (1 << 20), "KB": 1.0 / (1 << 10), "MB": 1, "GB": 1 << 10}[t[2]]
	return rps, lat, mbps
}

// memory is a process's resident set in two parts: anonymous memory (the
// heap, caches) and mapped files (for fazt, the database's memory map).
type memory struct{ anon, file int64 }

func residentSet(pid int) memory {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(err)
	kb := func(field string) int64 {
		m := regexp.MustCompile(field + `:\s+(\d+) kB`).FindSubmatch(b)
		if m == nil {
			fail(fmt.Errorf("no %s for %d", field, pid))
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n << 10
	}
	return memory{anon: kb("RssAnon"), file: kb("RssFile")}
}

// peakResidentSet samples the resident set for d and returns the highest
// of each part.
func peakResidentSet(pid int, d time.Duration) memory {
	var peak memory
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		m := residentSet(pid)
		peak.anon, peak.file = max(peak.anon, m.anon), max(peak.file, m.file)
	}
	return peak
}

func waitServing(s *server) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/index.html")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("%s does not serve on %s: %v", s.name, s.addr, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	return ln.Addr().String()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func run(name string, args ...string) {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		fail(fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out))
	}
}

func must(err error) {
	if err != nil {
		fail(err)
	}
}

// started are the servers' processes, stopped on the way out.
var started []*exec.Cmd

func stopAll() {
	for _, c := range started {
		c.Process.Signal(os.Interrupt)
		c.Wait()
	}
	started = nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "httpbench:", err)
	stopAll()
	os.Exit(1)
}
