package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// The CLI's usage errors, at every level: exit status 2 and a suggestion;
// one "fazt:" prefix; not found is exit 1; --version.
func TestCLIUsageErrors(t *testing.T) {
	home := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string // in the output
	}{
		{[]string{"net", "route", "lss"}, 2, `net route: unknown command "lss"; did you mean ls?`},
		{[]string{"storage", "statsu"}, 2, `did you mean status?`},
		{[]string{"fs", "mout", "/x"}, 2, `did you mean mount`},
		{[]string{"netw"}, 2, `did you mean net?`},
		{[]string{"net"}, 2, `net: a command is missing; one of: `},
		{[]string{}, 2, `a command is missing`},
		{[]string{"net", "route", "add", "x"}, 2, "fazt: net route add: wrong number of arguments\nusage: fazt net route add HOST TARGET"},
		{[]string{"deploy", "rollbak", "docs"}, 2, `did you mean rollback?`},
		{[]string{"deploy", "ls", "nosuch"}, 1, `no site nosuch`},
		{[]string{"--version"}, 0, "fazt e2e "},
		{[]string{"version"}, 0, "fazt e2e "},
	} {
		cmd := exec.Command(faztBin, append([]string{"--data", home}, c.args...)...)
		cmd.Dir = "/"
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(out.String(), c.want) {
			t.Errorf("fazt %s: exit %d, want %d; output:\n%s\nwant it to contain %q", strings.Join(c.args, " "), code, c.code, out.String(), c.want)
		}
		if strings.Contains(out.String(), "fazt: fazt") {
			t.Errorf("fazt %s: a doubled prefix: %s", strings.Join(c.args, " "), out.String())
		}
	}
}

// Status commands speak to people by default, and to scripts with --raw
// and -o json.
func TestStatusSummaries(t *testing.T) {
	in := newInstance(t)
	// Listeners on ports of their own: 8080 may be another program's here.
	sh(t, fmt.Sprintf("cd %s && echo 127.0.0.1:%d > net/http && echo off > net/https", q(in.mnt), freePort(t)))
	out, err := in.fazt("proc", "status")
	if err != nil || !strings.Contains(out, "fazt e2e, pid ") || !strings.Contains(out, ": healthy\n") || !strings.Contains(out, "MiB") {
		t.Fatalf("proc status: %v\n%s", err, out)
	}
	raw, err := in.fazt("proc", "status", "--raw")
	if err != nil || !strings.Contains(raw, "\nwrites ok\n") {
		t.Fatalf("proc status --raw: %v\n%s", err, raw)
	}
	js, err := in.fazt("proc", "status", "-o", "json")
	var m map[string]string
	if err != nil || json.Unmarshal([]byte(js), &m) != nil || m["writes"] != "ok" || m["version"] != "e2e" {
		t.Fatalf("proc status -o json: %v\n%s", err, js)
	}
	// What needs attention is said: a route to a missing site.
	in.fazt("net", "route", "add", "x.example", "nosite")
	if out, err := in.fazt("net", "status"); err != nil || !strings.Contains(out, "network: needs attention") || !strings.Contains(out, "x.example:nosite") {
		t.Fatalf("net status: %v\n%s", err, out)
	}
	if out, err := in.fazt("storage", "status"); err != nil || !strings.Contains(out, "database: healthy") {
		t.Fatalf("storage status: %v\n%s", err, out)
	}
	if _, err := in.fazt("proc", "status", "-o", "yaml"); err == nil {
		t.Fatal("-o yaml was accepted")
	}
}
