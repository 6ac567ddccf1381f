package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/kernel"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// toolBin finds a test tool that make tools builds into bin/: it skips the
// test without it, and fails it in CI.
func toolBin(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (make tools builds it): %v", name, err)
		}
		t.Skipf("%s is missing: run make tools", name)
	}
	return p
}

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// lockedBuffer collects a child's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startChild runs a helper process for the test's life.
func startChild(t *testing.T, out *lockedBuffer, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return cmd
}

// apiCA makes a CA and a certificate for 127.0.0.1 signed by it, for
// Pebble's API, and writes caFile (what fazt trusts), certFile, keyFile.
func apiCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fazt test API CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	caCert, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for f, b := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: leafDER}, keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}

// acme is a Pebble ACME server on loopback whose DNS names all resolve to
// 127.0.0.1 (pebble-challtestsrv as its resolver), validating challenges on
// fazt's ports.
type acme struct {
	dir    string // the directory URL
	caFile string // the root of the API's certificate, for fazt
	log    *lockedBuffer
	mgmt   string
	api    *http.Client
	pebble *exec.Cmd
}

func startPebble(t *testing.T, httpPort, tlsPort int) *acme {
	t.Helper()
	pebble, chall := toolBin(t, "pebble"), toolBin(t, "pebble-challtestsrv")
	dir := t.TempDir()
	caFile, certFile, keyFile := apiCA(t, dir)
	dnsPort, apiPort, mgmtPort, challMgmt := freePort(t), freePort(t), freePort(t), freePort(t)
	a := &acme{dir: fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort), caFile: caFile, log: &lockedBuffer{},
		mgmt: fmt.Sprintf("https://127.0.0.1:%d", mgmtPort)}
	startChild(t, a.log, nil, chall, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort), "-management", fmt.Sprintf("127.0.0.1:%d", challMgmt),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": fmt.Sprintf("127.0.0.1:%d", apiPort), "managementListenAddress": fmt.Sprintf("127.0.0.1:%d", mgmtPort),
		"certificate": certFile, "privateKey": keyFile, "httpPort": httpPort, "tlsPort": tlsPort,
		"ocspResponderURL": "", "externalAccountBindingRequired": false,
	}})
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	a.pebble = startChild(t, a.log, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"},
		pebble, "-config", cfgFile, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(b)
	a.api = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitUntil(t, 60*time.Second, func() bool {
		resp, err := a.api.Get(a.dir)
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}, func() string { return "pebble does not answer:\n" + a.log.String() })
	return a
}

// roots is the pool of Pebble's issuing root: the only root a client of
// fazt's HTTPS trusts in these tests.
func (a *acme) roots(t *testing.T) (*x509.CertPool, string) {
	t.Helper()
	resp, err := a.api.Get(a.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble's root: %q", b)
	}
	f := filepath.Join(t.TempDir(), "pebble-root.pem")
	os.WriteFile(f, b, 0o600)
	return pool, f
}

// httpsClient fetches from fazt's HTTPS port whatever the URL's host,
// trusting only roots, and never follows redirects.
func httpsClient(roots *x509.CertPool, httpPort, httpsPort int) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		port := httpsPort
		if strings.HasSuffix(addr, ":"+strconv.Itoa(httpPort)) || strings.HasSuffix(addr, ":80") {
			port = httpPort
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// certStatus reads /net/certs/HOST/status through the mount as a map.
func certStatus(in *instance, host string) map[string]string {
	b, err := os.ReadFile(in.path("net/certs/" + host + "/status"))
	kv := map[string]string{}
	if err != nil {
		kv["read_error"] = err.Error()
		return kv
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			kv[k] = v
		}
	}
	return kv
}

// Automatic HTTPS against a real ACME server: HTTP-01 for one host,
// TLS-ALPN-01 for another, certificates in the database and the tree,
// served to a client that trusts only the CA's root; none for names
// without a route; renewal on demand; kept across a restart.
func TestAutomaticHTTPS(t *testing.T) {
	httpPort, httpsPort := freePort(t), freePort(t)
	ca := startPebble(t, httpPort, httpsPort)
	// The kernel (spawned by fs mount) trusts the ACME API's root.
	t.Setenv("SSL_CERT_FILE", ca.caFile)
	in := newInstance(t)
	hostHTTP, hostALPN := "http01.example.com", "alpn.example.com"
	sh(t, fmt.Sprintf(`cd %s
echo 127.0.0.1:%d > net/http
echo 127.0.0.1:%d > net/https
echo "acme ca %s" > net/ctl
echo "acme email ops@example.com" > net/ctl
echo "acme challenges http-01" > net/ctl
mkdir -p fs/site
echo '<h1>over TLS</h1>' > fs/site/index.html
echo site > net/routes/%s
echo "tls on" > net/ctl`, q(in.mnt), httpPort, httpsPort, ca.dir, hostHTTP))

	issued := func(host string) {
		t.Helper()
		waitUntil(t, 90*time.Second, func() bool { return certStatus(in, host)["not_after"] > "2" },
			func() string {
				return fmt.Sprintf("no certificate for %s: %v\nfazt log:\n%s\npebble log:\n%s", host, certStatus(in, host), in.log(), ca.log.String())
			})
	}
	issued(hostHTTP)
	if !strings.Contains(ca.log.String(), "Attempting to validate w/ HTTP: http://"+hostHTTP+":"+strconv.Itoa(httpPort)+"/.well-known/acme-challenge/") {
		t.Fatalf("pebble did not validate %s over HTTP-01:\n%s", hostHTTP, ca.log.String())
	}

	// With only TLS-ALPN-01 answered, a new route gets its certificate
	// through the HTTPS listener.
	sh(t, fmt.Sprintf(`cd %s
echo "acme challenges tls-alpn-01" > net/ctl
echo site > net/routes/%s`, q(in.mnt), hostALPN))
	issued(hostALPN)
	if strings.Contains(ca.log.String(), "http://"+hostALPN) {
		t.Fatalf("%s was validated over HTTP, not TLS-ALPN:\n%s", hostALPN, ca.log.String())
	}

	roots, rootFile := ca.roots(t)
	client := httpsClient(roots, httpPort, httpsPort)
	for _, host := range []string{hostHTTP, hostALPN} {
		resp, err := client.Get(fmt.Sprintf("https://%s:%d/", host, httpsPort))
		if err != nil {
			t.Fatalf("GET over HTTPS for %s: %v\n%s", host, err, in.log())
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "<h1>over TLS</h1>\n" || resp.ProtoMajor != 2 {
			t.Fatalf("%s: %d %s %q", host, resp.StatusCode, resp.Proto, body)
		}
	}
	// curl, trusting only Pebble's root, agrees.
	out := sh(t, fmt.Sprintf("curl -sS --fail --cacert %s --resolve %s:%d:127.0.0.1 https://%s:%d/",
		q(rootFile), hostHTTP, httpsPort, hostHTTP, httpsPort))
	if out != "<h1>over TLS</h1>\n" {
		t.Fatalf("curl: %q", out)
	}

	// Plain HTTP for a host with a certificate goes to HTTPS, path kept;
	// the ACME challenge path is not redirected (it is answered, or 404).
	resp, err := client.Get(fmt.Sprintf("http://%s:%d/a/b?c=d", hostHTTP, httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := fmt.Sprintf("https://%s:%d/a/b?c=d", hostHTTP, httpsPort); resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Fatalf("http: %d %q, want 301 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// A name without a route gets no certificate, and the CA hears
	// nothing of it.
	if _, err := client.Get(fmt.Sprintf("https://unrouted.example.com:%d/", httpsPort)); err == nil {
		t.Fatal("a handshake for a name without a route succeeded")
	}
	if strings.Contains(ca.log.String(), "unrouted.example.com") {
		t.Fatal("fazt asked the CA for a name without a route")
	}

	// The tree shows certificates, never keys; the CLI lists and renews.
	pemBytes, err := os.ReadFile(in.path("net/certs/" + hostHTTP + "/cert.pem"))
	if err != nil || !bytes.HasPrefix(pemBytes, []byte("-----BEGIN CERTIFICATE-----")) {
		t.Fatalf("cert.pem: %v %q", err, pemBytes)
	}
	if out := sh(t, "grep -rl 'PRIVATE KEY' "+q(in.path("net"))+" || true"); out != "" {
		t.Fatalf("the tree shows a private key: %s", out)
	}
	ls, err := in.fazt("net", "cert", "ls")
	if err != nil || !strings.Contains(ls, hostALPN+" 20") || !strings.Contains(ls, hostHTTP+" 20") {
		t.Fatalf("cert ls: %v %q", err, ls)
	}
	before := certStatus(in, hostALPN)["serial"]
	if out, err := in.fazt("net", "cert", "renew", hostALPN); err != nil {
		t.Fatalf("cert renew: %v %s\n%s", err, out, in.log())
	}
	after := certStatus(in, hostALPN)["serial"]
	if after == before {
		t.Fatalf("renew kept serial %s", after)
	}
	// ...and the new certificate is the one served.
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{ServerName: hostALPN, RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	served := conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
	conn.Close()
	if served != after {
		t.Fatalf("serving serial %s after renewal to %s", served, after)
	}
	if out, err := in.fazt("net", "cert", "renew", "nowhere.example.com"); err == nil || !strings.Contains(out, "no route") {
		t.Fatalf("renew without a route: %v %q", err, out)
	}

	// The remote API over HTTPS: a host routed to @api gets its
	// certificate like any other and serves the tree to a token; plain
	// HTTP to it goes to HTTPS.
	sh(t, "echo @api > "+q(in.path("net/routes/api.example.com")))
	issued("api.example.com")
	_, tok := mint(t, in, "tls", "read:/fs/site")
	remote := api.Remote(fmt.Sprintf("https://api.example.com:%d", httpsPort), tok, client)
	ents, err := remote.List(context.Background(), "/fs/site")
	if err != nil || len(ents) != 1 || ents[0].Name != "index.html" {
		t.Fatalf("remote list over HTTPS: %v %v", ents, err)
	}
	if _, err := remote.Stat(context.Background(), "/net"); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("remote stat outside the scope: %v", err)
	}
	resp, err = client.Get(fmt.Sprintf("http://api.example.com:%d/fs/site/index.html", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 301 {
		t.Fatalf("the API over plain HTTP: %d", resp.StatusCode)
	}

	// Certificates live in the database: with the CA gone, a restarted
	// kernel serves them.
	if out, err := in.fazt("fs", "umount", in.mnt); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	waitUntil(t, 60*time.Second, func() bool { return in.pid() == 0 }, func() string { return "the kernel did not stop" })
	integrity(t, in.home)
	ca.pebble.Process.Kill()
	in.mount()
	resp, err = client.Get(fmt.Sprintf("https://%s:%d/", hostHTTP, httpsPort))
	if err != nil {
		t.Fatalf("after restart: %v\n%s", err, in.log())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after restart: %d", resp.StatusCode)
	}
}
