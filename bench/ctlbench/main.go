package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/api"
)

func main() {
	fazt := flag.String("fazt", "bin/fazt", "the fazt binary")
	base := flag.String("dir", "/var/tmp/fazt-ctlbench", "work directory")
	n := flag.Int("n", 1000, "operations per row")
	flag.Parse()

	must(os.RemoveAll(*base))
	bare := filepath.Join(*base, "bare")
	must(os.MkdirAll(bare, 0o755))
	data, mnt := filepath.Join(*base, "data"), filepath.Join(*base, "mnt")
	bin, err := filepath.Abs(*fazt)
	must(err)
	run(bin, "--data", data, "fs", "mount", mnt)
	defer exec.Command(bin, "--data", data, "fs", "umount", "--lazy", mnt).Run()
	client := api.Dial(filepath.Join(data, "fazt.sock"))
	ctx := context.Background()

	type row struct {
		name string
		op   func(i int)
	}
	write := func(p, s string) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		must(err)
		_, err = f.WriteString(s)
		must(err)
		must(f.Close())
	}
	read := func(p string) {
		_, err := os.ReadFile(p)
		must(err)
	}
	rows := []row{
		{"write a file, bare disk (peer)", func(i int) { write(filepath.Join(bare, "f"), "blog\n") }},
		{"write a file in /fs, through the mount (peer)", func(i int) { write(filepath.Join(mnt, "fs", "f"), "blog\n") }},
		{"echo target > net/routes/X, through the mount", func(i int) {
			write(filepath.Join(mnt, "net", "routes", "x.example.com"), fmt.Sprintf("site%d\n", i%7))
		}},
		{"cat proc/status, through the mount", func(i int) { read(filepath.Join(mnt, "proc", "status")) }},
		{"cat a file, bare disk (peer)", func(i int) { read(filepath.Join(bare, "f")) }},
		{"route add through the local API (PUT)", func(i int) {
			w := client.Create(ctx, "/net/routes/api.example.com", 0o644)
			fmt.Fprintf(w, "site%d\n", i%7)
			must(w.Close())
		}},
	}
	cli := row{"fazt net route add, a process each (CLI)", func(i int) {
		run(bin, "--data", data, "net", "route", "add", "cli.example.com", fmt.Sprintf("site%d", i%7))
	}}

	samples := map[string][]time.Duration{}
	// Interleaved rounds, so the machine's mood touches every row alike.
	for round := 0; round < 10; round++ {
		for _, r := range rows {
			for i := 0; i < *n/10; i++ {
				start := time.Now()
				r.op(i)
				samples[r.name] = append(samples[r.name], time.Since(start))
			}
		}
		for i := 0; i < max(1, *n/100); i++ {
			start := time.Now()
			cli.op(i)
			samples[cli.name] = append(samples[cli.name], time.Since(start))
		}
	}

	// 1,000 route creations through the mount, then ls | wc -l.
	start := time.Now()
	for i := 0; i < 1000; i++ {
		write(filepath.Join(mnt, "net", "routes", fmt.Sprintf("h%04d.example.com", i)), "blog\n")
	}
	create := time.Since(start)
	start = time.Now()
	out, err := exec.Command("bash", "-c", "ls "+filepath.Join(mnt, "net", "routes")+" | wc -l").Output()
	must(err)
	list := time.Since(start)

	fmt.Printf("%s, %d CPUs; %d operations per row, in 10 interleaved rounds (the CLI row: %d).\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), *n, 10*max(1, *n/100))
	fmt.Println("| operation | median | p90 |")
	fmt.Println("|---|---:|---:|")
	for _, r := range append(rows, cli) {
		s := samples[r.name]
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		fmt.Printf("| %s | %s | %s |\n", r.name, us(s[len(s)/2]), us(s[len(s)*9/10]))
	}
	fmt.Printf("\n1,000 route creations through the mount: %s (%s each); then ls | wc -l: %s (%s routes).\n",
		create.Round(time.Millisecond), us(create/1000), list.Round(time.Millisecond), strings.TrimSpace(string(out)))
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f us", float64(d.Microseconds())) }

func run(bin string, args ...string) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "%s %v: %v\n%s", bin, args, err, out)
		os.Exit(1)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctlbench:", err)
		os.Exit(1)
	}
}
