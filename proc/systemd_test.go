package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The unit parses, names an executable, and is hardened as far as its
// flavour allows: systemd-analyze verify prints nothing for it.
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is missing (make deps installs systemd)")
		}
		t.Skip("no systemd-analyze here")
	}
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mnt := range []string{"", "/mnt/fazt"} {
		u := Unit{Binary: bin, DataDir: "/var/lib/fazt", Mount: mnt, Version: "test"}
		text, err := u.Render()
		if err != nil {
			t.Fatal(err)
		}
		s := string(text)
		for _, want := range []string{"Type=notify", "NotifyAccess=all", "Restart=on-failure", "NoNewPrivileges=yes",
			"LimitNOFILE=", "CAP_NET_BIND_SERVICE", "KillMode=mixed", "ExecStart=" + bin + " --data /var/lib/fazt proc start"} {
			if !strings.Contains(s, want) {
				t.Errorf("mount %q: no %q in\n%s", mnt, want, s)
			}
		}
		// A mount must be visible to the host: no private mount namespace.
		private := strings.Contains(s, "ProtectSystem=") || strings.Contains(s, "PrivateTmp=")
		if mounted := mnt != ""; mounted == private || mounted != strings.Contains(s, "CAP_SYS_ADMIN") ||
			mounted != strings.Contains(s, "--mount "+mnt) || mounted != strings.Contains(s, "DeviceAllow=/dev/fuse rw") {
			t.Errorf("mount %q: wrong flavour:\n%s", mnt, s)
		}
		if mnt == "" && !strings.Contains(s, "ReadWritePaths=/var/lib/fazt "+filepath.Dir(bin)) {
			t.Errorf("upgrades need the binary's directory writable:\n%s", s)
		}
		p := filepath.Join(t.TempDir(), UnitName)
		if err := os.WriteFile(p, text, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", p).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("mount %q: systemd-analyze verify: %v\n%s\n%s", mnt, err, out, s)
		}
	}
	// The check has teeth: a misspelt key is reported.
	p := filepath.Join(t.TempDir(), UnitName)
	text, _ := Unit{Binary: bin, DataDir: "/d"}.Render()
	os.WriteFile(p, []byte(strings.Replace(string(text), "NoNewPrivileges", "NoNewPrivilegs", 1)), 0o644)
	if out, _ := exec.Command(analyze, "verify", p).CombinedOutput(); !strings.Contains(string(out), "NoNewPrivilegs") {
		t.Errorf("a misspelt key went unnoticed: %s", out)
	}
}

func TestUnitRefusesBadPaths(t *testing.T) {
	for _, u := range []Unit{
		{Binary: "fazt", DataDir: "/d"},
		{Binary: "/b/fazt", DataDir: "/a b"},
		{Binary: "/b/fazt", DataDir: "/d", Mount: "/m$x"},
		{Binary: "/b/fazt"},
	} {
		if _, err := u.Render(); err == nil {
			t.Errorf("%+v: rendered", u)
		}
	}
}
