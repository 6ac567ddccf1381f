package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Status commands print a short summary for people (healthy or not, sizes
// and durations a person reads, what needs attention first), as systemctl
// status does; --raw prints the file's "key value" lines as they are, and
// -o json an object of them, for scripts. The files in the tree stay
// "key value".

type statusFlags struct {
	raw    bool
	output string
}

func (f *statusFlags) add(c *cobra.Command) {
	c.Flags().BoolVar(&f.raw, "raw", false, `print the "key value" lines as the file has them`)
	c.Flags().StringVarP(&f.output, "output", "o", "", "json: one object of the keys")
}

// summary is what a status command says of its keys: a headline and lines,
// and the problems (each one line) that make it not healthy.
type summary struct {
	head     string
	lines    [][2]string
	problems []string
}

// print writes the status b as f asks: raw, json, or s's summary of it.
func (f statusFlags) print(w io.Writer, b []byte, summarize func(map[string]string) summary) error {
	switch {
	case f.output == "json":
		m := map[string]string{}
		for k, v := range keyValues(b) {
			m[k] = v
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	case f.output != "":
		return usageError{fmt.Errorf("unknown output format %q: json, or --raw", f.output)}
	case f.raw:
		_, err := w.Write(b)
		return err
	}
	s := summarize(keyValues(b))
	state := "healthy"
	if len(s.problems) > 0 {
		state = "needs attention"
	}
	fmt.Fprintf(w, "%s: %s\n", s.head, state)
	for _, l := range s.lines {
		fmt.Fprintf(w, "  %-12s %s\n", l[0], l[1])
	}
	for _, p := range s.problems {
		fmt.Fprintf(w, "  ! %s\n", p)
	}
	return nil
}

func keyValues(b []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			m[k] = v
		}
	}
	return m
}

// size reads a byte count for people: 1.5 MiB.
func size(v string) string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return v
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGT"[i-1])
}

// seconds reads a duration in whole seconds for people: 3h12m0s.
func seconds(v string) string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return v
	}
	return (time.Duration(n) * time.Second).String()
}

// set says whether a status value means something (not "-" or empty).
func set(v string) bool { return v != "" && v != "-" }

func procSummary(m map[string]string) summary {
	s := summary{head: fmt.Sprintf("fazt %s, pid %s, up %s", m["version"], m["pid"], seconds(m["uptime_seconds"]))}
	s.lines = append(s.lines,
		[2]string{"writes", m["writes"]},
		[2]string{"database", size(m["db_bytes"]) + " (write-ahead log " + size(m["wal_bytes"]) + ")"},
		[2]string{"memory", "heap " + size(m["heap_bytes"]) + ", limit " + limit(m["memory_limit_bytes"]) +
			"; resident " + size(m["rss_anon_bytes"]) + " (and " + size(m["rss_file_bytes"]) + " file-backed: the binary and the mapped database)"},
		[2]string{"mounts", strings.ReplaceAll(m["mounts"], `\040`, " ")},
		[2]string{"http", m["net_http_addr"] + ", https " + m["net_https_addr"]},
		[2]string{"backups", m["driver_litestream"]},
	)
	replica := strings.ReplaceAll(m["replica"], `\040`, " ")
	switch m["role"] {
	case "edge", "standby":
		line := m["role"] + ", following " + replica +
			"; transaction " + m["applied_txid"] + " applied " + m["applied_at"] + ", " + m["lag_seconds"] + " s after the replica got it"
		if m["role"] == "standby" {
			line += "; the primary's lease: " + m["lease_owner"] + " until " + m["lease_expires"]
		}
		s.lines = append(s.lines, [2]string{"role", line})
	case "deposed":
		s.lines = append(s.lines, [2]string{"role", "deposed, replica " + replica})
		s.problems = append(s.problems, "no longer the primary: "+m["lease_owner"]+" took the replica's lease (generation "+m["lease_generation"]+"); writes are refused")
	case "":
	default:
		line := m["role"] + ", replica " + replica
		if m["lease"] == "holding" {
			line += "; lease generation " + m["lease_generation"] + " until " + m["lease_expires"]
		}
		s.lines = append(s.lines, [2]string{"role", line})
		if m["lease"] == "waiting" {
			s.problems = append(s.problems, "not replicating: "+m["lease_owner"]+" holds the replica's lease until "+m["lease_expires"])
		}
	}
	if d := m["driver_litestream"]; strings.HasPrefix(d, "following (error") {
		s.problems = append(s.problems, "the edge is not following: "+strings.TrimSuffix(strings.TrimPrefix(d, "following (error: "), ")"))
	}
	if set(m["upgraded_from"]) {
		s.lines = append(s.lines, [2]string{"upgraded", "from " + m["upgraded_from"]})
	}
	if w := m["writes"]; set(w) && w != "ok" {
		s.problems = append(s.problems, "writes "+w)
	}
	for _, k := range []string{"net_http_error", "net_https_error"} {
		if set(m[k]) {
			s.problems = append(s.problems, strings.TrimPrefix(strings.TrimSuffix(k, "_error"), "net_")+" is not served: "+m[k])
		}
	}
	if d := m["driver_litestream"]; strings.HasPrefix(d, "down") {
		s.problems = append(s.problems, "backups are "+d)
	}
	if set(m["restarted"]) {
		s.problems = append(s.problems, "restarted: "+m["restarted"])
	}
	if m["upgrade"] == "failed" {
		s.problems = append(s.problems, "the last upgrade failed ("+m["upgrade_at"]+"): "+m["upgrade_error"])
	}
	return s
}

func limit(v string) string {
	if v == "-1" {
		return "none"
	}
	return size(v)
}

func storageSummary(m map[string]string) summary {
	s := summary{head: "database"}
	s.lines = append(s.lines,
		[2]string{"size", size(m["db_bytes"]) + ", " + size(m["db_free_bytes"]) + " of it free pages (write-ahead log " + size(m["wal_bytes"]) + ")"},
		[2]string{"disk", size(m["disk_free_bytes"]) + " free, " + size(m["reserve_bytes"]) + " kept in reserve"},
		[2]string{"writes", m["writes"]},
		[2]string{"schema", m["migrations_applied"] + " migrations applied, " + m["migrations_pending"] + " pending"},
	)
	for _, k := range []string{"last_checkpoint", "last_vacuum", "last_integrity_check", "last_backup"} {
		if set(m[k]) {
			s.lines = append(s.lines, [2]string{strings.TrimPrefix(k, "last_"), m[k]})
		}
		if strings.HasPrefix(m[k], "failed") {
			s.problems = append(s.problems, "the last "+strings.ReplaceAll(strings.TrimPrefix(k, "last_"), "_", " ")+" failed")
		}
	}
	if w := m["writes"]; set(w) && w != "ok" {
		s.problems = append(s.problems, "writes "+w)
	}
	if set(m["lost_changes"]) {
		s.problems = append(s.problems, "changes were lost: "+m["lost_changes"])
	}
	if m["migrations_unknown"] != "0" && set(m["migrations_unknown"]) {
		s.problems = append(s.problems, m["migrations_unknown"]+" migrations applied by a newer fazt")
	}
	return s
}

func netSummary(m map[string]string) summary {
	s := summary{head: "network"}
	s.lines = append(s.lines,
		[2]string{"routes", m["routes"]},
		[2]string{"http", m["http_addr"]},
		[2]string{"https", m["https_addr"]},
		[2]string{"tls", m["tls"]},
	)
	for _, k := range []string{"http_error", "https_error"} {
		if set(m[k]) {
			s.problems = append(s.problems, strings.TrimSuffix(k, "_error")+" is not served: "+m[k])
		}
	}
	if set(m["routes_missing_site"]) {
		s.problems = append(s.problems, "routes to sites that do not exist: "+m["routes_missing_site"])
	}
	return s
}
