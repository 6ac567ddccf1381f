package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/bench/internal/loopback"
)

const (
	key    = "benchkey"
	secret = "benchsecret0123456789"
)

func main() {
	fazt := flag.String("fazt", "bin/fazt", "the fazt binary")
	vgw := flag.String("versitygw", "bin/versitygw", "the S3 server")
	base := flag.String("dir", "/var/tmp/fazt-replicabench", "work directory")
	dur := flag.Duration("d", 60*time.Second, "how long the deploy and route load runs")
	deployEvery := flag.Duration("deploy-every", 6*time.Second, "time between deploys")
	routeRate := flag.Int("routes", 50, "route writes per second")
	wrkDur := flag.Duration("wrk", 5*time.Second, "one wrk run")
	rounds := flag.Int("rounds", 3, "wrk rounds per kernel, interleaved")
	leaseTTL := flag.Duration("lease-ttl", 30*time.Second, "the primary's lease (a standby takes over about that long after it dies)")
	flag.Parse()
	os.Setenv("AWS_ACCESS_KEY_ID", key) // the edge's credentials, from its environment
	os.Setenv("AWS_SECRET_ACCESS_KEY", secret)

	must(os.RemoveAll(*base))
	must(os.MkdirAll(*base, 0o755))
	defer os.RemoveAll(*base)
	bin, err := filepath.Abs(*fazt)
	must(err)
	addr, stopS3, err := loopback.StartS3(*vgw, filepath.Join(*base, "s3"), key, secret)
	must(err)
	defer stopS3()
	ctx := context.Background()

	pdata, edata, sdata := filepath.Join(*base, "primary"), filepath.Join(*base, "edge"), filepath.Join(*base, "standby")
	primary, err := loopback.StartKernel(bin, pdata)
	must(err)
	defer primary.Stop()
	pc := api.Dial(filepath.Join(pdata, "fazt.sock"))
	pbase := serveHTTP(pc)
	site := filepath.Join(*base, "site")
	must(os.MkdirAll(site, 0o755))
	page := func(v int) string {
		return fmt.Sprintf("<!doctype html><title>v%d</title>%s\n", v, strings.Repeat("<p>some words of a page</p>", 80))
	}
	must(os.WriteFile(filepath.Join(site, "index.html"), []byte(page(0)), 0o644))
	run(bin, "--data", pdata, "deploy", site, "blog")
	write(pc, "/net/routes/blog.bench", "blog")
	cmd := exec.Command(bin, "--data", pdata, "driver", "litestream", "credentials", "--access-key-id", key)
	cmd.Stdin = strings.NewReader(secret + "\n")
	out(cmd)
	replica := fmt.Sprintf("s3://backups/fazt?endpoint=http://%s&region=us-east-1&force-path-style=true", addr)
	run(bin, "--data", pdata, "driver", "litestream", "replica", "add", "offsite", replica)
	run(bin, "--data", pdata, "driver", "litestream", "lease-ttl", leaseTTL.String())
	run(bin, "--data", pdata, "storage", "backup")

	edge, err := loopback.StartKernel(bin, edata, "--follow", replica)
	must(err)
	defer edge.Stop()
	ebase := serveHTTP(api.Dial(filepath.Join(edata, "fazt.sock")))
	waitServed(ebase, page(0), time.Minute)

	// The load: route writes at a steady rate, deploys every few seconds;
	// each deploy's lag is from its command's return to the edge serving
	// the new page.
	var routeWrites, routeErrs atomic.Int64
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second / time.Duration(*routeRate))
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			w := pc.Create(ctx, fmt.Sprintf("/net/routes/r%d.bench", i%200), 0o644)
			io.WriteString(w, "blog\n")
			if w.Close() != nil {
				routeErrs.Add(1)
			}
			routeWrites.Add(1)
		}
	}()
	var lags []time.Duration
	start := time.Now()
	for v := 1; time.Since(start) < *dur; v++ {
		next := time.Now().Add(*deployEvery)
		must(os.WriteFile(filepath.Join(site, "index.html"), []byte(page(v)), 0o644))
		run(bin, "--data", pdata, "deploy", site, "blog")
		done := time.Now()
		waitServed(ebase, page(v), time.Minute)
		lags = append(lags, time.Since(done))
		time.Sleep(time.Until(next))
	}
	close(stop)
	loadFor := time.Since(start)
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	p99 := lags[min(len(lags)-1, len(lags)*99/100)]

	// Serving: the same page from both, rounds interleaved.
	var prate, erate []float64
	for r := 0; r < *rounds; r++ {
		prate = append(prate, wrk(pbase, *wrkDur))
		erate = append(erate, wrk(ebase, *wrkDur))
	}
	pm, em := medianF(prate), medianF(erate)

	// Failover: a standby following since the start of this part; the
	// primary killed, then a route write tried on the standby every 50 ms
	// until it is taken; then a deploy on it reaches the edge.
	standby, err := loopback.StartKernel(bin, sdata, "--follow", replica, "--standby")
	must(err)
	defer standby.Stop()
	sc := api.Dial(filepath.Join(sdata, "fazt.sock"))
	sbase := serveHTTP(sc)
	last := page(len(lags))
	waitServed(sbase, last, time.Minute)
	time.Sleep(*leaseTTL / 3) // at a point of the renewal period of no particular kind
	primary.Kill()
	died := time.Now()
	var tookWrite time.Duration
	for deadline := died.Add(*leaseTTL*3 + time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		w := sc.Create(ctx, "/net/routes/failover.bench", 0o644)
		io.WriteString(w, "blog\n")
		if w.Close() == nil {
			tookWrite = time.Since(died)
			break
		}
	}
	if tookWrite == 0 {
		fmt.Fprintln(os.Stderr, "replicabench: the standby did not take writes; see", sdata+".log")
		os.Exit(1)
	}
	must(os.WriteFile(filepath.Join(site, "index.html"), []byte(page(-1)), 0o644))
	run(bin, "--data", sdata, "deploy", site, "blog")
	deployed := time.Now()
	waitServed(ebase, page(-1), time.Minute)
	afterFailover := time.Since(deployed)

	fmt.Printf("# replicabench %s: one primary, one edge, versitygw, loopback; %d CPUs\n", time.Now().UTC().Format("2006-01-02"), numCPU())
	fmt.Printf("load: a deploy every %v and %d route writes/s for %v (%d route writes, %d failed)\n\n",
		*deployEvery, *routeRate, loadFor.Round(time.Second), routeWrites.Load(), routeErrs.Load())
	fmt.Println("| deploy returned -> served by the edge | median | p99 | max | deploys |")
	fmt.Println("|---|---:|---:|---:|---:|")
	fmt.Printf("| lag | %.2f s | %.2f s | %.2f s | %d |\n\n", lags[len(lags)/2].Seconds(), p99.Seconds(), lags[len(lags)-1].Seconds(), len(lags))
	fmt.Printf("| wrk -t2 -c50 -d%v, same page (%d B) | primary | edge | edge/primary |\n", *wrkDur, len(page(0)))
	fmt.Println("|---|---:|---:|---:|")
	fmt.Printf("| requests/s (median of %d) | %.0f | %.0f | %.2fx |\n\n", *rounds, pm, em, em/pm)
	fmt.Printf("| failover, lease %v | time |\n|---|---:|\n", *leaseTTL)
	fmt.Printf("| primary killed (kill -9) -> the standby takes a write | %.2f s (%.2fx the lease) |\n", tookWrite.Seconds(), tookWrite.Seconds()/leaseTTL.Seconds())
	fmt.Printf("| then a deploy on it -> served by the edge | %.2f s |\n", afterFailover.Seconds())
}

// waitServed polls base for blog.bench until it serves want.
func waitServed(base, want string, d time.Duration) {
	deadline := time.Now().Add(d)
	c := http.Client{Timeout: 5 * time.Second}
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.Host = "blog.bench"
		if resp, err := c.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == want {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	panic("the edge did not serve the deploy within " + d.String())
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

func wrk(base string, d time.Duration) float64 {
	b, err := exec.Command("wrk", "-t2", "-c50", "-d"+d.String(), "-H", "Host: blog.bench", base+"/").CombinedOutput()
	if err != nil {
		panic(fmt.Sprintf("wrk: %v\n%s", err, b))
	}
	m := wrkRate.FindSubmatch(b)
	if m == nil {
		panic("wrk: " + string(b))
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func medianF(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// serveHTTP moves a kernel's HTTP listener to a free loopback port (HTTPS
// off) and returns its base URL.
func serveHTTP(c *api.Client) string {
	port := loopback.FreePort()
	write(c, "/net/http", fmt.Sprintf("127.0.0.1:%d", port))
	write(c, "/net/https", "off")
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

func write(c *api.Client, p, v string) {
	w := c.Create(context.Background(), p, 0o644)
	io.WriteString(w, v+"\n")
	must(w.Close())
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func run(bin string, args ...string) { out(exec.Command(bin, args...)) }

func out(cmd *exec.Cmd) {
	if b, err := cmd.CombinedOutput(); err != nil {
		panic(fmt.Sprintf("%v: %v\n%s", cmd.Args, err, b))
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
