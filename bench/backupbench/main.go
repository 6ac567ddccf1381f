package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/mattn/go-sqlite3"

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
	base := flag.String("dir", "/var/tmp/fazt-backupbench", "work directory")
	sizes := flag.String("sizes", "100,1000", "database sizes, MB")
	rounds := flag.Int("rounds", 3, "backups and restores per size")
	lagFor := flag.Duration("lag", 20*time.Second, "how long the steady write load runs")
	rate := flag.Int("rate", 50, "writes per second of the steady load")
	flag.Parse()
	os.Unsetenv("AWS_CA_BUNDLE") // these machines set one the SDK cannot use

	must(os.RemoveAll(*base))
	must(os.MkdirAll(*base, 0o755))
	bin, err := filepath.Abs(*fazt)
	must(err)
	addr, stopS3, err := loopback.StartS3(*vgw, filepath.Join(*base, "s3"), key, secret)
	must(err)
	defer stopS3()
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
	ctx := context.Background()

	fmt.Printf("# backupbench %s, %d rounds, medians\n", time.Now().UTC().Format("2006-01-02"), *rounds)
	fmt.Println("| database | fazt backup | peer: VACUUM INTO + PutObject | ratio | fazt restore | peer: GetObject | ratio |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|")
	var lagData string
	for _, s := range strings.Split(*sizes, ",") {
		mb, err := strconv.Atoi(s)
		must(err)
		data := filepath.Join(*base, fmt.Sprintf("data-%d", mb))
		k, err := loopback.StartKernel(bin, data)
		must(err)
		fill(bin, data, filepath.Join(*base, "src"), mb)
		replica := fmt.Sprintf("s3://backups/fazt-%d?endpoint=http://%s&region=us-east-1&force-path-style=true", mb, addr)
		cmd := exec.Command(bin, "--data", data, "driver", "litestream", "credentials", "--access-key-id", key)
		cmd.Stdin = strings.NewReader(secret + "\n")
		out(cmd)
		run(bin, "--data", data, "driver", "litestream", "replica", "add", "offsite", replica)
		waitLag0(bin, data, 10*time.Minute)

		var backup, peerUp, restore, peerDown []time.Duration
		for r := 0; r < *rounds; r++ {
			run(bin, "--data", data, "net", "route", "add", fmt.Sprintf("r%d.example.com", r), "site")
			start := time.Now()
			run(bin, "--data", data, "storage", "backup")
			backup = append(backup, time.Since(start))

			copyPath := filepath.Join(*base, "copy.db")
			os.Remove(copyPath)
			start = time.Now()
			vacuumInto(filepath.Join(data, "fazt.db"), copyPath)
			f, err := os.Open(copyPath)
			must(err)
			_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("backups"), Key: aws.String(fmt.Sprintf("peer-%d.db", mb)), Body: f})
			must(err)
			f.Close()
			peerUp = append(peerUp, time.Since(start))
			os.Remove(copyPath)

			outPath := filepath.Join(*base, "restored.db")
			os.Remove(outPath)
			start = time.Now()
			run(bin, "--data", data, "storage", "restore", "--to", outPath)
			restore = append(restore, time.Since(start))
			os.Remove(outPath)

			start = time.Now()
			obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("backups"), Key: aws.String(fmt.Sprintf("peer-%d.db", mb))})
			must(err)
			f, err = os.Create(outPath)
			must(err)
			_, err = io.Copy(f, obj.Body)
			must(err)
			must(f.Sync())
			f.Close()
			obj.Body.Close()
			peerDown = append(peerDown, time.Since(start))
			os.Remove(outPath)
		}
		b, pu, rs, pd := median(backup), median(peerUp), median(restore), median(peerDown)
		fmt.Printf("| %d MB | %s | %s | %.2fx | %s | %s | %.2fx |\n", mb, sec(b), sec(pu), float64(b)/float64(pu), sec(rs), sec(pd), float64(rs)/float64(pd))
		if lagData == "" {
			lagData = lag(bin, data, *lagFor, *rate)
		}
		k.Stop()
		os.RemoveAll(data)
	}
	fmt.Println()
	fmt.Print(lagData)
}

// lag runs a steady load of route writes through the local API and samples
// /driver/litestream/status: how many transactions the replica is behind,
// and how long each transaction takes to reach it.
func lag(bin, data string, d time.Duration, rate int) string {
	c := api.Dial(filepath.Join(data, "fazt.sock"))
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- n
				return
			case <-tick.C:
			}
			w := c.Create(ctx, fmt.Sprintf("/net/routes/lag%d.example.com", n%500), 0o644)
			fmt.Fprintf(w, "site%d\n", n)
			must(w.Close())
			n++
		}
	}()
	// Probes, one after another: a route write, then the time until the
	// replica holds the first Litestream transaction taken after it.
	var lags []uint64
	var delays []time.Duration
	end := time.Now().Add(d)
	for p := 0; time.Now().Before(end); p++ {
		before := status(c)["txid"]
		w := c.Create(ctx, "/net/routes/probe.example.com", 0o644)
		fmt.Fprintf(w, "probe%d\n", p)
		must(w.Close())
		wrote := time.Now()
		var after uint64
		for time.Since(wrote) < 30*time.Second {
			st := status(c)
			txid, rep := st["txid"], st["replicated_txid"]
			lags = append(lags, txid-min(rep, txid))
			if after == 0 && txid > before {
				after = txid
			}
			if after != 0 && rep >= after {
				delays = append(delays, time.Since(wrote))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(stop)
	n := <-done
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	pct := func(p float64) int { return int(p * float64(len(lags)-1)) }
	dpct := func(p float64) time.Duration {
		if len(delays) == 0 {
			return 0
		}
		return delays[int(p*float64(len(delays)-1))]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Replication lag, %d route writes/s for %v through the local API (%d writes, %d status samples):\n", rate, d, n, len(lags))
	fmt.Fprintf(&b, "- Litestream transactions not yet on the replica: median %d, p95 %d, max %d\n", lags[pct(0.5)], lags[pct(0.95)], lags[len(lags)-1])
	fmt.Fprintf(&b, "- a write's commit to the replica holding it: median %s, p95 %s, max %s (%d probes)\n",
		dpct(0.5).Round(time.Millisecond), dpct(0.95).Round(time.Millisecond), dpct(1).Round(time.Millisecond), len(delays))
	return b.String()
}

func status(c *api.Client) map[string]uint64 {
	r, err := c.Open(context.Background(), "/driver/litestream/status")
	must(err)
	b, err := io.ReadAll(r)
	r.Close()
	must(err)
	m := map[string]uint64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			m[k] = n
		}
	}
	return m
}

func waitLag0(bin, data string, d time.Duration) {
	c := api.Dial(filepath.Join(data, "fazt.sock"))
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		st := status(c)
		if st["txid"] > 0 && st["txid"] == st["replicated_txid"] {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	panic("the replica did not catch up")
}

// fill puts mb megabytes of incompressible files into /fs/big.
func fill(bin, data, src string, mb int) {
	must(os.RemoveAll(src))
	must(os.MkdirAll(src, 0o755))
	const fileMB = 8
	buf := make([]byte, fileMB<<20)
	for i := 0; i < mb/fileMB; i++ {
		rand.Read(buf)
		must(os.WriteFile(filepath.Join(src, fmt.Sprintf("f%04d", i)), buf, 0o644))
	}
	run(bin, "--data", data, "fs", "put", "-r", src, "/fs/big")
	must(os.RemoveAll(src))
}

func vacuumInto(db, out string) {
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro&_busy_timeout=5000")
	must(err)
	defer conn.Close()
	_, err = conn.Exec(`VACUUM INTO ?`, out)
	must(err)
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

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
