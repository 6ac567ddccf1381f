package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/kernel"
)

// remoteSetup serves the instance's remote API on a loopback port (every
// host routed to @api) with a root password, and returns its URL.
func remoteSetup(t *testing.T, in *instance) string {
	t.Helper()
	port := freePort(t)
	sh(t, fmt.Sprintf(`cd %s
echo 127.0.0.1:%d > net/http
echo @api > 'net/routes/*'
mkdir -p fs/blog fs/other
echo hello > fs/blog/index.html
echo private > fs/other/secret.txt`, q(in.mnt), port))
	cmd := in.faztCmd("security", "root-pass")
	cmd.Stdin = strings.NewReader("correct horse battery staple\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("root-pass: %v %s", err, out)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// mint makes a token with the CLI and returns its id and secret.
// remoteCLI runs fazt --remote base with token tok (and a configuration
// directory of its own), returning its output.
func remoteCLI(t *testing.T, base, tok string) func(args ...string) (string, error) {
	conf := t.TempDir()
	return func(args ...string) (string, error) {
		cmd := exec.Command(faztBin, append([]string{"--remote", base}, args...)...)
		cmd.Env = append(os.Environ(), "FAZT_TOKEN="+tok, "XDG_CONFIG_HOME="+conf)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
}

func mint(t *testing.T, in *instance, name string, scopes ...string) (string, string) {
	t.Helper()
	args := []string{"security", "token", "new", "--name", name, "--ttl", "1h"}
	for _, s := range scopes {
		args = append(args, "--scope", s)
	}
	out, err := in.fazt(args...)
	if err != nil {
		t.Fatalf("token new: %v %s", err, out)
	}
	kv := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, " ")
		kv[k] = v
	}
	if kv["id"] == "" || !strings.HasPrefix(kv["token"], "eyJ") {
		t.Fatalf("token new said %q", out)
	}
	return kv["id"], kv["token"]
}

// curlCode runs curl and returns the HTTP status it got.
func curlCode(t *testing.T, args string) string {
	t.Helper()
	out := sh(t, "curl -s -o /dev/null -w '%{http_code}' --max-time 10 "+args)
	return strings.TrimSpace(out)
}

// A token scoped to one site reads and writes that site and nothing else,
// with curl, Go's HTTP client and the CLI alike; a path it may not see is
// missing (404), not forbidden.
func TestRemoteScopes(t *testing.T) {
	in := newInstance(t)
	base := remoteSetup(t, in)
	id, tok := mint(t, in, "ci", "write:/fs/blog")
	bearer := q("Authorization: Bearer " + tok)
	basic := q("x:" + tok)

	for _, c := range []struct{ args, want string }{
		{base + "/fs/blog/index.html", "401"},
		{"-H " + bearer + " " + base + "/fs/blog/index.html", "200"},
		{"-u " + basic + " " + base + "/fs/blog/index.html", "200"},
		{"-H " + bearer + " " + base + "/fs/other/secret.txt", "404"},
		{"-H " + bearer + " " + base + "/security/status", "404"},
		{"-H " + bearer + " " + base + "/proc/status", "404"},
		{"-H " + bearer + " -T /etc/hostname " + base + "/net/routes/evil.test", "404"},
		{"-H " + bearer + " --path-as-is " + base + "/fs/blog/../other/secret.txt", "400"},
		{"-H " + bearer + " " + base + "/fs/blog%2F..%2Fother/secret.txt", "400"},
		{"-H " + bearer + " -T /etc/hostname " + base + "/fs/blog/host.txt", "204"},
		{"-H " + q("Authorization: Bearer "+tok[:len(tok)-3]+"abc") + " " + base + "/fs/blog/index.html", "401"},
	} {
		if got := curlCode(t, c.args); got != c.want {
			t.Errorf("curl %s: %s, want %s", c.args, got, c.want)
		}
	}
	// Listing a directory on the way shows only what is on the way.
	if out := sh(t, "curl -sS -H "+bearer+" "+q(base+"/fs?op=list")); !strings.Contains(out, `"blog"`) || strings.Contains(out, "other") {
		t.Fatalf("list /fs: %s", out)
	}

	// Go's client.
	ctx := context.Background()
	c := api.Remote(base, tok, nil)
	w := c.Create(ctx, "/fs/blog/from-go.txt", 0o644)
	io.WriteString(w, "written remotely\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "/fs/other"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("stat outside the scope: %v", err)
	}
	if err := c.Rename(ctx, "/fs/blog/from-go.txt", "/fs/other/stolen.txt"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("rename out of the scope: %v", err)
	}
	if got := sh(t, "cat "+q(in.path("fs/blog/from-go.txt"))); got != "written remotely\n" {
		t.Fatalf("through the mount: %q", got)
	}

	// The CLI, remotely.
	remote := remoteCLI(t, base, tok)
	src := t.TempDir()
	site(t, src, 7, 20)
	if out, err := remote("fs", "put", "-r", src, "/fs/blog/site"); err != nil {
		t.Fatalf("remote put: %v %s", err, out)
	}
	if a, b := checksums(t, src), checksums(t, in.path("fs/blog/site")); a != b {
		t.Fatalf("remote put differs:\n%s", diffLines(a, b))
	}
	if out, err := remote("net", "route", "add", "evil.test", "blog"); err == nil || !strings.Contains(out, "no such file") {
		t.Fatalf("remote route add with a site token: %v %q", err, out)
	}

	// Revoked: refused at once.
	if out, err := in.fazt("security", "token", "rm", id); err != nil {
		t.Fatalf("token rm: %v %s", err, out)
	}
	if got := curlCode(t, "-H "+bearer+" "+base+"/fs/blog/index.html"); got != "401" {
		t.Fatalf("revoked token: %s", got)
	}
}

// The root password buys a token for the CLI; guessing it is slowed down
// and logged; a call file works through the mount with a shell.
func TestRemoteLogin(t *testing.T) {
	in := newInstance(t)
	base := remoteSetup(t, in)
	cfg := t.TempDir()
	login := exec.Command(faztBin, "security", "login", base)
	login.Env = append(os.Environ(), "XDG_CONFIG_HOME="+cfg)
	login.Stdin = strings.NewReader("correct horse battery staple\n")
	if out, err := login.CombinedOutput(); err != nil || !strings.Contains(string(out), "logged in") {
		t.Fatalf("login: %v %s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(cfg, "fazt", "remotes.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved token: %v %v", fi, err)
	}
	ls := exec.Command(faztBin, "--remote", base, "net", "route", "ls")
	ls.Env = append(os.Environ(), "XDG_CONFIG_HOME="+cfg)
	if out, err := ls.CombinedOutput(); err != nil || !strings.Contains(string(out), "* @api") {
		t.Fatalf("remote route ls: %v %s", err, out)
	}

	// Guessing: refused, then limited (429), and logged.
	codes := []string{}
	for i := 0; i < 7; i++ {
		codes = append(codes, curlCode(t, "-X POST -u root:guess"+fmt.Sprint(i)+" "+q(base+"/?op=login")))
	}
	if codes[0] != "401" || codes[6] != "429" {
		t.Fatalf("login guesses: %v", codes)
	}
	if !strings.Contains(in.log(), "login failed") {
		t.Fatal("failed logins are not logged")
	}
	if strings.Contains(in.log(), "guess") || strings.Contains(in.log(), "correct horse") {
		t.Fatal("a password reached the log")
	}

	// The call file with a shell, Plan 9 style: the token comes back on
	// the same open, and nowhere else.
	out := sh(t, "cd "+q(in.mnt)+` && exec 3<>security/mint && echo "shell 2h read:/fs/blog" >&3 && cat <&3`)
	if !strings.Contains(out, "token eyJ") {
		t.Fatalf("mint through the mount: %q", out)
	}
	tok := strings.TrimPrefix(strings.Split(out, "\n")[1], "token ")
	if strings.Contains(in.log(), tok) || strings.Contains(sh(t, "cat "+q(in.path("security/tokens"))+"/*"), tok) {
		t.Fatal("a token reached the log or the tree")
	}
	if got := curlCode(t, "-H "+q("Authorization: Bearer "+tok)+" -T /etc/hostname "+base+"/fs/blog/x"); got != "403" {
		t.Fatalf("write with a read token: %s", got)
	}
	if got := curlCode(t, "-H "+q("Authorization: Bearer "+tok)+" "+base+"/fs/blog/index.html"); got != "200" {
		t.Fatalf("read with a read token: %s", got)
	}
	// Rotation voids everything.
	sh(t, "echo rotate > "+q(in.path("security/ctl")))
	if got := curlCode(t, "-H "+q("Authorization: Bearer "+tok)+" "+base+"/fs/blog/index.html"); got != "401" {
		t.Fatalf("after rotation: %s", got)
	}
}

// rclone copies a directory through the WebDAV side of the remote API with
// a token scoped to one site, and cannot write anywhere else.
func TestRemoteRclone(t *testing.T) {
	rclone, err := exec.LookPath("rclone")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("rclone is missing (make deps installs it)")
		}
		t.Skip("rclone is missing: make deps")
	}
	in := newInstance(t)
	base := remoteSetup(t, in)
	_, tok := mint(t, in, "rclone", "write:/fs/blog")
	obscured, err := exec.Command(rclone, "obscure", tok).Output()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(rclone, append(args, "--webdav-url", base+"/dav", "--webdav-user", "ci",
			"--webdav-pass", strings.TrimSpace(string(obscured)), "--webdav-vendor", "other",
			"--retries", "1", "--low-level-retries", "1", "--contimeout", "5s", "--timeout", "20s")...)
		cmd.Env = append(os.Environ(), "RCLONE_CONFIG=/dev/null")
		var out, errs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errs
		err := cmd.Run()
		return out.String() + errs.String(), err
	}
	src := t.TempDir()
	site(t, src, 11, 60)
	os.Remove(filepath.Join(src, "link")) // rclone copies files, not links
	os.Remove(filepath.Join(src, "d00", "up"))
	if out, err := run("copy", src, ":webdav:/fs/blog/site"); err != nil {
		t.Fatalf("rclone copy: %v\n%s", err, out)
	}
	if a, b := checksums(t, src), checksums(t, in.path("fs/blog/site")); a != b {
		t.Fatalf("rclone copy differs:\n%s", diffLines(a, b))
	}
	if out, err := run("check", src, ":webdav:/fs/blog/site"); err != nil {
		t.Fatalf("rclone check: %v\n%s", err, out)
	}
	if out, err := run("copy", src, ":webdav:/fs/other/site"); err == nil {
		t.Fatalf("rclone copy outside the scope succeeded:\n%s", out)
	}
	if out := sh(t, "ls -A "+q(in.path("fs/other"))); out != "secret.txt\n" {
		t.Fatalf("fs/other after a refused copy: %q", out)
	}
	if out, err := run("lsf", ":webdav:/fs", "-q", "--exclude", ".*/"); err != nil || out != "blog/\n" {
		t.Fatalf("rclone lsf /fs: %v %q", err, out)
	}
	// A FIFO is no file for HTTP: left out of the listing, which works.
	if err := syscall.Mkfifo(in.path("fs/blog/site/pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run("lsf", ":webdav:/fs/blog/site", "-q")
	if err != nil || strings.Contains(out, "pipe") || !strings.Contains(out, "d00/") {
		t.Fatalf("rclone lsf of a directory with a fifo: %v %q", err, out)
	}
	// Every property of every entry (allprop; the content type opens
	// files): a multistatus, without the FIFO.
	req, _ := http.NewRequest("PROPFIND", base+"/dav/fs/blog/site/", nil)
	req.Header.Set("Depth", "1")
	req.SetBasicAuth("ci", tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 207 || bytes.Contains(body, []byte("pipe")) || !bytes.Contains(body, []byte("d00")) ||
		!bytes.HasSuffix(bytes.TrimSpace(body), []byte("</D:multistatus>")) {
		t.Fatalf("PROPFIND allprop: %d %s", resp.StatusCode, body)
	}
}
