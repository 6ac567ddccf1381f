package main

import (
	"bytes"
	"flag"
	"fmt"
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

// file is one row of the benchmark.
type file struct {
	row, name string
	size      int
}

var files = []file{
	{"small HTML page (2 KB)", "index.html", 2 << 10},
	{"asset (100 KB)", "app.js", 100 << 10},
	{"large file (5 MB)", "big.bin", 5 << 20},
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

	bin, err := filepath.Abs(*fazt)
	must(err)
	servers := []*server{startFazt(bin, *base, root), startCaddy(*base, root), startNginx(*base, root)}
	defer stopAll()
	for _, s := range servers {
		waitServing(s)
	}
	faztPID := servers[0].cmd.Process.Pid
	time.Sleep(time.Second)
	idle := rss(faztPID)

	type result struct{ rps, p99 []float64 }
	res := map[string]*result{}
	var loadRSS int64
	for round := 0; round < *rounds; round++ {
		for _, f := range files {
			for _, s := range servers {
				url := "http://" + s.addr + "/" + f.name
				stop := make(chan int64)
				if s == servers[0] {
					go func() { stop <- peakRSS(faztPID, *dur) }()
				}
				rps, p99 := runWrk(url, *dur, *conns)
				if s == servers[0] {
					loadRSS = max(loadRSS, <-stop)
				}
				k := f.row + "|" + s.name
				if res[k] == nil {
					res[k] = &result{}
				}
				res[k].rps = append(res[k].rps, rps)
				res[k].p99 = append(res[k].p99, p99)
			}
		}
	}

	fmt.Printf("\nhttpbench: wrk -t2 -c%d -d%v, %d interleaved rounds (medians); %s, %d CPUs, GOMAXPROCS %d\n",
		*conns, *dur, *rounds, runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Println("\n| file | server | requests/s | p99 latency | fazt / this (req/s) |")
	fmt.Println("|---|---|---:|---:|---:|")
	for _, f := range files {
		faztRPS := median(res[f.row+"|fazt"].rps)
		for _, s := range servers {
			r := res[f.row+"|"+s.name]
			rps, p99 := median(r.rps), median(r.p99)
			fmt.Printf("| %s | %s | %.0f | %.2f ms | %.2fx |\n", f.row, s.name, rps, p99, faztRPS/rps)
		}
	}
	fmt.Printf("\nfazt resident memory: %.1f MiB idle, %.1f MiB peak under load\n", float64(idle)/(1<<20), float64(loadRSS)/(1<<20))
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
// automatic HTTPS, no access log (as fazt and nginx here).
func startCaddy(base, root string) *server {
	addr := freeAddr()
	conf := filepath.Join(base, "Caddyfile")
	must(os.WriteFile(conf, []byte(fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n}\nhttp://%s {\n\troot * %s\n\tfile_server\n}\n", addr, root)), 0o644))
	cmd := exec.Command("caddy", "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+base, "XDG_DATA_HOME="+base, "XDG_CONFIG_HOME="+base)
	must(cmd.Start())
	started = append(started, cmd)
	return &server{name: "caddy", addr: addr, cmd: cmd}
}

// startNginx serves root with nginx's usual static settings: a worker per
// CPU, sendfile, no access log.
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

// runWrk loads url and returns requests/s and the p99 latency in ms.
func runWrk(url string, d time.Duration, conns int) (float64, float64) {
	out, err := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+d.String(), "--latency", url).CombinedOutput()
	if err != nil {
		fail(fmt.Errorf("wrk %s: %v\n%s", url, err, out))
	}
	s := string(out)
	if m := regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`).FindStringSubmatch(s); m != nil {
		fail(fmt.Errorf("%s answered errors:\n%s", url, s))
	}
	m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindStringSubmatch(s)
	p := regexp.MustCompile(`\s99%\s+([\d.]+)(us|ms|s)`).FindStringSubmatch(s)
	if m == nil || p == nil {
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
	return rps, lat
}

// rss is a process's resident memory in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(err)
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		fail(fmt.Errorf("no VmRSS for %d", pid))
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n << 10
}

// peakRSS samples rss for d and returns the highest.
func peakRSS(pid int, d time.Duration) int64 {
	var peak int64
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		peak = max(peak, rss(pid))
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
