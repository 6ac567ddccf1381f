package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// sample is one request: when it started, how long it took, whether it
// failed.
type sample struct {
	at     time.Time
	took   time.Duration
	failed bool
}

// result is what one switch looked like to the clients.
type result struct {
	switchTime time.Duration // the command's wall time
	failed     int           // requests that failed in the window
	requests   int
	maxLatency time.Duration
	p99        time.Duration
}

func main() {
	fazt := flag.String("fazt", "bin/fazt", "the fazt binary")
	base := flag.String("dir", "/var/tmp/fazt-upgradebench", "work directory")
	rounds := flag.Int("rounds", 5, "switches of each kind (medians)")
	clients := flag.Int("clients", 4, "concurrent clients (half keep connections alive)")
	flag.Parse()

	exec.Command("umount", "-l", filepath.Join(*base, "mnt")).Run()
	must(os.RemoveAll(*base))
	must(os.MkdirAll(filepath.Join(*base, "bin"), 0o755))
	src, err := filepath.Abs(*fazt)
	must(err)
	bin, next := filepath.Join(*base, "bin", "fazt"), filepath.Join(*base, "fazt-next")
	copyFile(src, bin)
	copyFile(src, next)
	data, mnt := filepath.Join(*base, "data"), filepath.Join(*base, "mnt")
	run(bin, "--data", data, "fs", "mount", mnt)
	defer exec.Command(bin, "--data", data, "fs", "umount", "--lazy", mnt).Run()

	port := freePort()
	page := strings.Repeat("<p>a page of a site</p>\n", 400)
	must(os.MkdirAll(filepath.Join(mnt, "fs", "site"), 0o755))
	must(os.WriteFile(filepath.Join(mnt, "fs", "site", "index.html"), []byte(page), 0o644))
	must(os.WriteFile(filepath.Join(mnt, "net", "http"), []byte(fmt.Sprintf("127.0.0.1:%d\n", port)), 0o644))
	must(os.WriteFile(filepath.Join(mnt, "net", "routes", "127.0.0.1"), []byte("site\n"), 0o644))
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitServed(url, page)

	var mu sync.Mutex // guards samples
	var samples []sample
	stop := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(30 * time.Minute)
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: i%2 == 1}}
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				ok := get(c, url, page)
				mu.Lock()
				samples = append(samples, sample{at: t0, took: time.Since(t0), failed: !ok})
				mu.Unlock()
			}
		}()
	}
	window := func(from, to time.Time) result {
		mu.Lock()
		defer mu.Unlock()
		var r result
		var lat []time.Duration
		for _, s := range samples {
			if s.at.Before(from) || s.at.After(to) {
				continue
			}
			r.requests++
			if s.failed {
				r.failed++
				continue
			}
			lat = append(lat, s.took)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if len(lat) > 0 {
			r.maxLatency = lat[len(lat)-1]
			r.p99 = lat[len(lat)*99/100]
		}
		return r
	}

	time.Sleep(time.Second)
	kinds := []struct {
		name string
		args []string
	}{
		{"fazt proc upgrade", []string{"proc", "upgrade", "--from", next}},
		{"fazt proc restart (peer)", []string{"proc", "restart"}},
	}
	results := map[string][]result{}
	quiet := window(time.Now().Add(-time.Second), time.Now())
	for r := 0; r < *rounds; r++ {
		for _, k := range kinds {
			from := time.Now()
			t0 := time.Now()
			run(bin, append([]string{"--data", data}, k.args...)...)
			took := time.Since(t0)
			time.Sleep(time.Second) // clients reconnect; the window includes it
			res := window(from, time.Now())
			res.switchTime = took
			results[k.name] = append(results[k.name], res)
			waitServed(url, page)
			time.Sleep(500 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()

	fmt.Printf("upgradebench: %d clients (half keep-alive), %d rounds, medians; a window is the switch plus 1 s\n", *clients, *rounds)
	fmt.Printf("quiet second: %d requests, p99 %v, max %v\n\n", quiet.requests, quiet.p99.Round(time.Microsecond), quiet.maxLatency.Round(time.Microsecond))
	fmt.Println("| switch | command time | requests in window | failed | p99 latency | max latency |")
	fmt.Println("|---|---|---|---|---|---|")
	med := map[string]result{}
	for _, k := range kinds {
		rs := results[k.name]
		m := result{
			switchTime: median(rs, func(r result) time.Duration { return r.switchTime }),
			p99:        median(rs, func(r result) time.Duration { return r.p99 }),
			maxLatency: median(rs, func(r result) time.Duration { return r.maxLatency }),
			requests:   int(median(rs, func(r result) time.Duration { return time.Duration(r.requests) })),
		}
		total := 0
		for _, r := range rs {
			total += r.failed
		}
		m.failed = total
		med[k.name] = m
		fmt.Printf("| %s | %v | %d | %d in %d rounds | %v | %v |\n", k.name, m.switchTime.Round(time.Millisecond), m.requests,
			total, len(rs), m.p99.Round(time.Microsecond), m.maxLatency.Round(time.Microsecond))
	}
	u, p := med[kinds[0].name], med[kinds[1].name]
	fmt.Printf("\nratios upgrade/restart: command time %.2fx, requests served in the window %.2fx, p99 %.2fx, max latency %.2fx\n",
		ratio(u.switchTime, p.switchTime), float64(u.requests)/float64(max(p.requests, 1)), ratio(u.p99, p.p99), ratio(u.maxLatency, p.maxLatency))
}

func get(c *http.Client, url, page string) bool {
	r, err := c.Get(url)
	if err != nil {
		return false
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	return err == nil && r.StatusCode == 200 && string(b) == page
}

func waitServed(url, page string) {
	c := &http.Client{Timeout: 2 * time.Second}
	for i := 0; i < 200; i++ {
		if get(c, url, page) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, "the site is not served at", url)
	os.Exit(1)
}

func median(rs []result, f func(result) time.Duration) time.Duration {
	v := make([]time.Duration, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return v[len(v)/2]
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, 1)) }

func copyFile(src, dst string) {
	b, err := os.ReadFile(src)
	must(err)
	must(os.WriteFile(dst, b, 0o755))
}

func run(bin string, args ...string) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "%s %v: %v\n%s", bin, args, err, out)
		os.Exit(1)
	}
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
