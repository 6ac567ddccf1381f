package security_test

// Attacks on a whole kernel through its real front door (net/httpd's
// listener on loopback, the remote API and WebDAV behind it, the public
// site server): what a token may reach must not grow by links, stored
// paths, concurrency or slowness.

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/deploy"
	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/net/httpd"
	"github.com/fazt-sh/fazt/proc"
	"github.com/fazt-sh/fazt/security"
)

// secret is the other site's file, which no attack may read.
const secret = "the other site's s3cr3t"

type target struct {
	t    *testing.T
	sys  *proc.System
	ctx  context.Context
	base string // http://127.0.0.1:PORT
}

// boot starts a kernel serving on loopback, with api.test routed to the
// remote API and blog.test, other.test to their sites.
func boot(t *testing.T, limits *httpd.Limits) *target {
	t.Helper()
	ctx := context.Background()
	sys, err := proc.Boot(ctx, proc.Config{DataDir: t.TempDir(), Version: "v-attack", LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if limits != nil {
		sys.Web().SetLimits(*limits)
	}
	tg := &target{t: t, sys: sys, ctx: ctx}
	tg.write("/net/http", "127.0.0.1:0\n")
	tg.write("/net/https", "off\n")
	if err := sys.OpenNet(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sys.CloseNet(time.Second); sys.Close() })
	for _, l := range sys.Web().Status() {
		if v, ok := strings.CutPrefix(l, "http_addr "); ok {
			tg.base = "http://" + v
		}
	}
	tg.write("/net/routes/api.test", "@api\n")
	tg.write("/net/routes/blog.test", "blog\n")
	tg.write("/net/routes/other.test", "other\n")
	tg.write("/fs/blog/index.html", "blog home")
	tg.write("/fs/blog/sub/page.html", "blog page")
	tg.write("/fs/other/secret.txt", secret)
	tg.write("/fs/other/index.html", "other home")
	return tg
}

// write writes as the owner, making directories.
func (tg *target) write(p, data string) {
	tg.t.Helper()
	fs := tg.sys.Kernel.FS
	if strings.HasPrefix(p, "/fs/") {
		if err := fs.MkdirAll(tg.ctx, p[:strings.LastIndex(p, "/")], 0o755); err != nil {
			tg.t.Fatal(err)
		}
	}
	if err := fs.WriteFile(tg.ctx, p, []byte(data), 0o644); err != nil {
		tg.t.Fatal(p, err)
	}
}

// read reads as the owner; "" for a missing file.
func (tg *target) read(p string) string {
	tg.t.Helper()
	b, err := tg.sys.Kernel.FS.ReadFile(tg.ctx, p)
	if kernel.KindOf(err) == kernel.NotExist {
		return ""
	}
	if err != nil {
		tg.t.Fatal(p, err)
	}
	return string(b)
}

func (tg *target) exists(p string) bool {
	_, err := tg.sys.Kernel.FS.Lstat(tg.ctx, p)
	return err == nil
}

// mint makes a token through /security/mint, as the owner does.
func (tg *target) mint(name string, scopes ...string) string {
	tg.t.Helper()
	f, err := tg.sys.Kernel.FS.Open(tg.ctx, "/security/mint", kernel.ORdwr, 0)
	if err != nil {
		tg.t.Fatal(err)
	}
	defer f.Close()
	req := name + " 1h " + strings.Join(scopes, " ") + "\n"
	if _, err := f.WriteAt(tg.ctx, []byte(req), 0); err != nil {
		tg.t.Fatal(err)
	}
	out, err := api.ReadAnswer(tg.ctx, f, int64(len(req)))
	if err != nil {
		tg.t.Fatal(err)
	}
	m := regexp.MustCompile(`token (\S+)`).FindSubmatch(out)
	if m == nil {
		tg.t.Fatalf("mint said %q", out)
	}
	return string(m[1])
}

func (tg *target) tokens() int {
	ents, err := tg.sys.Kernel.FS.ReadDir(tg.ctx, "/security/tokens")
	if err != nil {
		tg.t.Fatal(err)
	}
	return len(ents)
}

// do sends a request to host with the token (none if ""), and returns its
// status and body.
func (tg *target) do(host, token, method, target, body string, header ...string) (int, string) {
	tg.t.Helper()
	req, err := http.NewRequest(method, tg.base+target, strings.NewReader(body))
	if err != nil {
		tg.t.Fatal(err)
	}
	req.Host = host
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range header {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tg.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func tarOf(name, data string) string {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))})
	io.WriteString(tw, data)
	tw.Close()
	return b.String()
}

// Links of every shape, made by a site's own token, lead nowhere outside
// the token's scopes, through every operation of the API and WebDAV and
// through the public site server; and nothing outside changes.
func TestLinksConfineEveryCaller(t *testing.T) {
	tg := boot(t, nil)
	siteW := tg.mint("site-w", "write:/fs/blog")
	siteR := tg.mint("site-r", "read:/fs/blog")
	narrow := tg.mint("narrow", "read:/fs/blog/sub")
	before := tg.tokens()

	// The site's token makes its links itself.
	tg.write("/fs/blog/sub/.keep", "")
	for link, to := range map[string]string{
		"l-mint":       "/security/mint",
		"l-root":       "/",
		"l-other":      "/fs/other",
		"l-rel":        "../other",
		"l-chain":      "l-other", // a link to a link
		"l-proc":       "/proc/ctl",
		"l-net":        "/net/routes",
		"l-dotdot":     "../../../../../fs/other", // climbing past the root stops there
		"l-deploys":    "/fs/.deploys/other",
		"l-in":         "/fs/blog/sub/page.html", // absolute, inside the site: fine
		"sub/l-up":     "../../other",            // a directory link below a directory
		"sub/l-parent": "../index.html",          // outside the narrower token's scope
		"l-secret":     "/fs/other/secret.txt",
	} {
		if code, body := tg.do("api.test", siteW, "POST", "/fs/blog/"+link+"?op=symlink&target="+to, ""); code != 204 {
			t.Fatalf("symlink %s: %d %s", link, code, body)
		}
	}
	linkBody, _ := json.Marshal([]api.LinkPair{{From: "/fs/blog/l-other/secret.txt", To: "/fs/blog/got-link"}, {From: "/fs/blog/index.html", To: "/fs/blog/l-other/planted-link"}})

	type attack struct {
		host, token, method, target, body string
		header                            []string
		want                              int // 0: any refusal (4xx)
	}
	var attacks []attack
	// Every API operation, through every shape of link out of the site.
	for _, via := range []string{"l-other", "l-rel", "l-chain", "sub/l-up", "l-root/fs/other", "l-dotdot"} {
		p := "/fs/blog/" + via
		attacks = append(attacks,
			attack{"api.test", siteW, "GET", p + "/secret.txt", "", nil, 404},
			attack{"api.test", siteR, "GET", p + "/secret.txt", "", nil, 404},
			attack{"api.test", siteW, "GET", p + "/secret.txt?op=stat", "", nil, 404},
			attack{"api.test", siteW, "GET", p + "?op=list", "", nil, 0},
			attack{"api.test", siteW, "GET", p + "/?op=sums", "", nil, 0},
			attack{"api.test", siteW, "PUT", p + "/planted", "pwned", nil, 404},
			attack{"api.test", siteW, "PUT", p + "/secret.txt", "pwned", nil, 404},
			attack{"api.test", siteW, "DELETE", p + "/secret.txt", "", nil, 404},
			attack{"api.test", siteW, "POST", p + "/newdir?op=mkdir", "", nil, 404},
			attack{"api.test", siteW, "POST", "/fs/blog/index.html?op=rename&to=" + p + "/stolen", "", nil, 404},
			attack{"api.test", siteW, "POST", p + "/secret.txt?op=rename&to=/fs/blog/got", "", nil, 404},
			attack{"api.test", siteW, "POST", p + "/secret.txt?op=clone&to=/fs/blog/got", "", nil, 404},
			attack{"api.test", siteW, "POST", "/fs/blog/index.html?op=clone&to=" + p + "/planted", "", nil, 404},
			attack{"api.test", siteW, "POST", "/fs/blog/index.html?op=exchange&to=" + p + "/secret.txt", "", nil, 404},
			attack{"api.test", siteW, "POST", p + "/planted-sym?op=symlink&target=x", "", nil, 404},
			attack{"api.test", siteW, "POST", "/fs/blog?op=files", tarOf(strings.TrimPrefix(p, "/fs/blog/")+"/planted", "pwned"), nil, 404},
			attack{"dav.test", siteW, "GET", "/dav" + p + "/secret.txt", "", nil, 404},
			attack{"dav.test", siteW, "PUT", "/dav" + p + "/planted", "pwned", nil, 0},
			attack{"dav.test", siteW, "PROPFIND", "/dav" + p + "/", "", []string{"Depth: 1"}, 404},
			attack{"dav.test", siteW, "COPY", "/dav" + p + "/secret.txt", "", []string{"Destination: http://dav.test/dav/fs/blog/got"}, 0},
			attack{"dav.test", siteW, "COPY", "/dav/fs/blog/index.html", "", []string{"Destination: http://dav.test/dav" + p + "/planted"}, 0},
			attack{"dav.test", siteW, "MOVE", "/dav" + p + "/secret.txt", "", []string{"Destination: http://dav.test/dav/fs/blog/got"}, 0},
			attack{"dav.test", siteW, "MKCOL", "/dav" + p + "/newdir", "", nil, 0},
			attack{"dav.test", siteW, "DELETE", "/dav" + p + "/secret.txt", "", nil, 404},
			attack{"dav.test", siteW, "LOCK", "/dav" + p + "/secret.txt", "", []string{"Timeout: Infinite"}, 404},
			attack{"blog.test", "", "GET", "/" + via + "/secret.txt", "", nil, 404},
		)
	}
	attacks = append(attacks,
		// Control files: a token made itself a root token, rewrote a
		// route, made the kernel run a program.
		attack{"api.test", siteW, "POST", "/fs/blog/l-mint?op=call", "evil 1h write:/\n", nil, 404},
		attack{"api.test", siteW, "PUT", "/fs/blog/l-mint", "evil 1h write:/\n", nil, 0},
		attack{"api.test", siteW, "POST", "/fs/blog/l-proc?op=call", "upgrade /bin/true\n", nil, 404},
		attack{"api.test", siteW, "PUT", "/fs/blog/l-net/evil.test", "blog\n", nil, 404},
		attack{"api.test", siteW, "PUT", "/fs/blog/l-root/net/routes/evil.test", "blog\n", nil, 404},
		attack{"api.test", siteW, "PUT", "/fs/blog/l-deploys/.live", "x\n", nil, 404},
		attack{"api.test", siteW, "GET", "/fs/blog/l-secret", "", nil, 404},
		attack{"api.test", siteR, "GET", "/fs/blog/l-secret", "", nil, 404},
		attack{"api.test", siteW, "POST", "/?op=link", string(linkBody), nil, 200}, // both pairs come back missing
		// A read-only token writes nothing, locks nothing.
		attack{"api.test", siteR, "PUT", "/fs/blog/x", "x", nil, 403},
		attack{"dav.test", siteR, "LOCK", "/dav/fs/blog/", "", []string{"Timeout: Infinite"}, 403},
		attack{"dav.test", siteR, "LOCK", "/dav/", "", []string{"Timeout: Infinite"}, 403},
		attack{"dav.test", siteW, "LOCK", "/dav/", "", []string{"Timeout: Infinite"}, 403},
		// A link made before the scope was narrowed.
		attack{"api.test", narrow, "GET", "/fs/blog/sub/l-parent", "", nil, 404},
		attack{"api.test", narrow, "GET", "/fs/blog/sub/l-up/secret.txt", "", nil, 404},
		// The public reader: links out of the site lead nowhere.
		attack{"blog.test", "", "GET", "/l-secret", "", nil, 404},
		attack{"blog.test", "", "GET", "/l-root/fs/other/secret.txt", "", nil, 404},
		attack{"blog.test", "", "GET", "/l-mint", "", nil, 404},
	)
	tg.write("/net/routes/dav.test", "@api\n")
	for _, a := range attacks {
		code, body := tg.do(a.host, a.token, a.method, a.target, a.body, a.header...)
		switch {
		case a.want != 0 && code != a.want, a.want == 0 && (code < 400 || code >= 500):
			t.Errorf("%s %s%s (%s): %d, want %d: %.200s", a.method, a.host, a.target, tokenName(a.token, siteW, siteR, narrow), code, a.want, body)
		case strings.Contains(body, secret):
			t.Errorf("%s %s%s: the other site's secret came back: %.200s", a.method, a.host, a.target, body)
		}
	}
	// Nothing outside the token's site changed, nothing was minted.
	if got := tg.read("/fs/other/secret.txt"); got != secret {
		t.Errorf("the other site's file: %q", got)
	}
	for _, p := range []string{"/fs/other/planted", "/fs/other/stolen", "/fs/other/newdir", "/fs/other/planted-sym",
		"/fs/other/planted-link", "/fs/blog/got", "/fs/blog/got-link", "/net/routes/evil.test"} {
		if tg.exists(p) {
			t.Errorf("%s was made", p)
		}
	}
	if tg.tokens() != before {
		t.Errorf("tokens: %d, were %d", tg.tokens(), before)
	}
	if got := tg.read("/fs/blog/index.html"); got != "blog home" {
		t.Errorf("index.html: %q", got)
	}
	// What the scope allows still works, links inside it included.
	for _, c := range []struct{ host, token, target, want string }{
		{"api.test", siteW, "/fs/blog/l-in", "blog page"},
		{"api.test", siteR, "/fs/blog/index.html", "blog home"},
		{"api.test", narrow, "/fs/blog/sub/page.html", "blog page"},
		{"blog.test", "", "/l-in", "blog page"},
		{"dav.test", siteW, "/dav/fs/blog/l-in", "blog page"},
	} {
		if code, body := tg.do(c.host, c.token, "GET", c.target, ""); code != 200 || body != c.want {
			t.Errorf("GET %s%s: %d %q, want %q", c.host, c.target, code, body, c.want)
		}
	}
	if code, body := tg.do("api.test", siteW, "GET", "/fs/blog?op=list", ""); code != 200 || !strings.Contains(body, `"l-other"`) {
		t.Errorf("list of the site: %d %s", code, body)
	}
}

func tokenName(tok string, names ...string) string {
	for i, n := range names {
		if tok == n {
			return []string{"write:/fs/blog", "read:/fs/blog", "read:/fs/blog/sub"}[i]
		}
	}
	return "no token"
}

// A hard link made by the owner is the owner's choice; a token cannot
// make one to a file outside its scope (the kernel asks Write at the
// source), nor clone or share one it may not read.
func TestHardLinksAndClonesNeedTheSource(t *testing.T) {
	tg := boot(t, nil)
	scoped := tg.sys.Kernel.FS
	// The kernel's calls with the token's caller, as the API makes them.
	g := kernel.WithCaller(tg.ctx, callerOf(t, "write:/fs/blog"))
	for _, c := range []struct {
		name string
		err  error
	}{
		{"link", scoped.Link(g, "/fs/other/secret.txt", "/fs/blog/hl")},
		{"clone", scoped.Clone(g, "/fs/other/secret.txt", "/fs/blog/cl")},
		{"clone dir", scoped.Clone(g, "/fs/other", "/fs/blog/cd")},
		{"write from", scoped.WriteFiles(g, []kernel.NewFile{{Path: "/fs/blog/wf", From: "/fs/other/secret.txt"}})},
		{"link out", scoped.Link(g, "/fs/blog/index.html", "/fs/other/hl")},
		{"rename out", scoped.Rename(g, "/fs/blog/index.html", "/fs/other/index2.html")},
	} {
		if kernel.KindOf(c.err) != kernel.NotExist {
			t.Errorf("%s: %v, want not found", c.name, c.err)
		}
	}
	for _, p := range []string{"/fs/blog/hl", "/fs/blog/cl", "/fs/blog/cd", "/fs/blog/wf", "/fs/other/hl", "/fs/other/index2.html"} {
		if tg.exists(p) {
			t.Errorf("%s was made", p)
		}
	}
	// A file the caller may read but not write cannot get another name
	// it may write.
	r := kernel.WithCaller(tg.ctx, callerOf(t, "read:/fs/other", "write:/fs/blog"))
	if err := scoped.Link(r, "/fs/other/secret.txt", "/fs/blog/hl"); kernel.KindOf(err) != kernel.Permission {
		t.Errorf("hard link of a read-only file: %v", err)
	}
	if err := scoped.Clone(r, "/fs/other/secret.txt", "/fs/blog/cl"); err != nil {
		t.Errorf("clone of a readable file: %v", err) // a copy: the original cannot change through it
	}
	// Remote callers make no setuid or setgid files.
	if err := scoped.WriteFile(g, "/fs/blog/suid", []byte("x"), 0o6755); err != nil {
		t.Fatal(err)
	}
	if err := scoped.Chmod(g, "/fs/blog/index.html", 0o4755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/fs/blog/suid", "/fs/blog/index.html"} {
		if a, err := scoped.Stat(tg.ctx, p); err != nil || a.Mode&0o6000 != 0 || a.Mode&0o755 != 0o755 {
			t.Errorf("%s: mode %o %v", p, a.Mode, err)
		}
	}
}

// callerOf is the caller a token with scopes is, as the front door makes
// it for the kernel.
func callerOf(t *testing.T, scopes ...string) kernel.Caller {
	t.Helper()
	sc, err := security.ParseScopes(strings.Join(scopes, " "))
	if err != nil {
		t.Fatal(err)
	}
	return security.Grant{Name: "t", Scopes: sc}.Caller()
}

// The records a site's token may write are data to the deploys the owner
// runs, never paths: a live-deploy record naming another site is not
// followed, and a hand-made tree in the history is never rolled back to.
func TestDeployRecordsAreNotAuthority(t *testing.T) {
	tg := boot(t, nil)
	siteW := tg.mint("site-w", "write:/fs/blog")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "index.html"), []byte("deployed"), 0o644)
	tree := deploy.KernelTree{FS: tg.sys.Kernel.FS}
	if _, err := deploy.Sync(tg.ctx, tree, src, "blog", deploy.Options{}); err != nil {
		t.Fatal(err)
	}
	// The token points the record of the live deploy elsewhere, and
	// makes a "deploy" of its own in the history.
	for _, c := range []struct{ target, body string }{
		{"/fs/.deploys/blog/.live", "../../victim\n"},
		{"/fs/.deploys/blog/zzzz?op=mkdir", ""},
		{"/fs/.deploys/blog/zzzz/index.html", "planted"},
	} {
		method := "PUT"
		if strings.Contains(c.target, "op=mkdir") {
			method = "POST"
		}
		if code, body := tg.do("api.test", siteW, method, c.target, c.body); code != 204 {
			t.Fatalf("%s: %d %s", c.target, code, body)
		}
	}
	os.WriteFile(filepath.Join(src, "index.html"), []byte("deployed again"), 0o644)
	if _, err := deploy.Sync(tg.ctx, tree, src, "blog", deploy.Options{}); err != nil {
		t.Fatal(err)
	}
	if tg.exists("/fs/victim") {
		t.Fatal("a deploy followed the record to /fs/victim")
	}
	tg.do("api.test", siteW, "PUT", "/fs/.deploys/blog/.live", "../../victim2\n")
	id, err := deploy.Rollback(tg.ctx, tree, "blog", "", "owner")
	if err != nil {
		t.Fatal(err)
	}
	if id == "zzzz" || tg.read("/fs/blog/index.html") == "planted" {
		t.Fatal("rolled back to a tree the token made")
	}
	if tg.read("/fs/blog/index.html") != "deployed" || tg.exists("/fs/victim2") {
		t.Fatalf("rollback: %q, victim2 %v", tg.read("/fs/blog/index.html"), tg.exists("/fs/victim2"))
	}
}

// A token that may mint tokens mints none with more rights than its own.
func TestMintNoMoreThanOwn(t *testing.T) {
	tg := boot(t, nil)
	minter := tg.mint("minter", "write:/security/mint", "write:/fs/blog")
	before := tg.tokens()
	for _, c := range []struct {
		scopes string
		want   int
	}{
		{"write:/", 403},
		{"read:/fs", 403},
		{"write:/fs/other", 403},
		{"read:/fs/blog write:/net", 403},
		{"write:/fs/blog/sub", 200},
		{"read:/fs/blog", 200},
	} {
		code, body := tg.do("api.test", minter, "POST", "/security/mint?op=call", "x 1h "+c.scopes+"\n")
		if code != c.want {
			t.Errorf("mint %s: %d %s, want %d", c.scopes, code, body, c.want)
		}
	}
	if tg.tokens() != before+2 {
		t.Errorf("tokens: %d, were %d", tg.tokens(), before)
	}
}

// A burst of concurrent wrong passwords from one address gets no more
// checks than the same guesses one after the other: the rest are 429.
func TestLoginBurst(t *testing.T) {
	tg := boot(t, nil)
	tg.write("/security/root-pass", "correct horse battery\n")
	const n = 25
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			req, _ := http.NewRequest("POST", tg.base+"/?op=login", nil)
			req.Host = "api.test"
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("root:guess-%d", i))))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}(i)
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[401] > 5 || count[401]+count[429] != n {
		t.Fatalf("codes %v: at most 5 wrong passwords checked, the rest refused", count)
	}
}

// WebDAV locks: only writers lock, locks end, tokens are not guessable,
// and without locks concurrent writes never see 423.
func TestDAVLocks(t *testing.T) {
	tg := boot(t, nil)
	tg.write("/net/routes/dav.test", "@api\n")
	siteW := tg.mint("site-w", "write:/fs/blog")
	other := tg.mint("other-w", "write:/fs/blog")
	lockBody := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	lock := func(p string) (string, string) {
		req, _ := http.NewRequest("LOCK", tg.base+"/dav"+p, strings.NewReader(lockBody))
		req.Host = "dav.test"
		req.Header.Set("Authorization", "Bearer "+siteW)
		req.Header.Set("Timeout", "Infinite")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 201 {
			t.Fatalf("LOCK %s: %d %s", p, resp.StatusCode, b)
		}
		return strings.Trim(resp.Header.Get("Lock-Token"), "<>"), string(b)
	}
	tok1, body := lock("/fs/blog/a.txt")
	tok2, _ := lock("/fs/blog/b.txt")
	if !regexp.MustCompile(`Second-([0-9]+)`).MatchString(body) || strings.Contains(body, "Infinite") {
		t.Errorf("lock timeout not bounded: %s", body)
	}
	if !regexp.MustCompile(`^opaquelocktoken:[0-9a-f]{32}$`).MatchString(tok1) || tok1 == tok2 {
		t.Errorf("lock tokens %q %q", tok1, tok2)
	}
	// Someone else's write to a locked file waits for the lock; a guessed
	// token releases nothing.
	if code, _ := tg.do("dav.test", other, "PUT", "/dav/fs/blog/a.txt", "x"); code != 423 {
		t.Errorf("PUT to a locked file: %d", code)
	}
	for _, guess := range []string{"1", "2", "opaquelocktoken:1", "fazt:request"} {
		tg.do("dav.test", other, "UNLOCK", "/dav/fs/blog/a.txt", "", "Lock-Token: <"+guess+">")
	}
	if code, _ := tg.do("dav.test", other, "PUT", "/dav/fs/blog/a.txt", "x"); code != 423 {
		t.Errorf("after guessed unlocks: %d", code)
	}
	if code, _ := tg.do("dav.test", siteW, "UNLOCK", "/dav/fs/blog/a.txt", "", "Lock-Token: <"+tok1+">"); code != 204 {
		t.Errorf("UNLOCK with the token: %d", code)
	}
	if code, _ := tg.do("dav.test", other, "PUT", "/dav/fs/blog/a.txt", "x"); code != 201 && code != 204 {
		t.Errorf("PUT after unlock: %d", code)
	}
	// Parallel uploads into one new directory, as rclone does them.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				for _, r := range []struct{ method, p string }{{"MKCOL", "/dav/fs/blog/up/"}, {"PUT", fmt.Sprintf("/dav/fs/blog/up/f%d-%d", i, j)}, {"PUT", "/dav/fs/blog/up/same"}} {
					req, _ := http.NewRequest(r.method, tg.base+r.p, strings.NewReader("data"))
					req.Host = "dav.test"
					req.Header.Set("Authorization", "Bearer "+other)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						continue
					}
					resp.Body.Close()
					if resp.StatusCode == 423 {
						mu.Lock()
						bad = append(bad, r.method+" "+r.p)
						mu.Unlock()
					}
				}
			}
		}(i)
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("423 without a lock held, %d times: %v", len(bad), bad[:min(len(bad), 5)])
	}
}

// Slow clients: a body that trickles is cut, and one address holds only
// so many connections.
func TestSlowClients(t *testing.T) {
	lim := httpd.Limits{ConnsPerClient: 20, BodyStall: 2 * time.Second, BodyGrace: time.Second, BodyRate: 1 << 10}
	tg := boot(t, &lim)
	siteW := tg.mint("site-w", "write:/fs/blog")
	addr := strings.TrimPrefix(tg.base, "http://")
	// More connections than one address may hold, each sending one byte
	// of a 200 KB body.
	const n = 60
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "PUT /fs/blog/slow%d HTTP/1.1\r\nHost: api.test\r\nAuthorization: Bearer %s\r\nContent-Length: 200000\r\n\r\nx", i, siteW)
		conns = append(conns, c)
	}
	// Each is closed by the server: at once (over the cap) or when its
	// body is too slow. Wait for all, with a generous deadline.
	closed := make(chan int, n)
	for _, c := range conns {
		go func(c net.Conn) {
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			_, err := io.Copy(io.Discard, c) // until the server closes it
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				closed <- 0 // still open after a minute
				return
			}
			closed <- 1
		}(c)
	}
	cut := 0
	for range conns {
		cut += <-closed
	}
	if cut != n {
		t.Fatalf("%d of %d slow connections were cut", cut, n)
	}
	// Nothing of the cut uploads stays.
	for i := 0; i < n; i++ {
		if tg.exists(fmt.Sprintf("/fs/blog/slow%d", i)) {
			t.Fatalf("slow%d left behind", i)
		}
	}
	// The server still serves, that address too.
	if code, _ := tg.do("blog.test", "", "GET", "/index.html", ""); code != 200 {
		t.Fatalf("after: %d", code)
	}
}
