package security

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

func newAuthority(t *testing.T) (*Authority, *storage.DB) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := storage.Open(context.Background(), filepath.Join(t.TempDir(), "fazt.db"), storage.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db, log), db
}

func TestScopes(t *testing.T) {
	s, err := ParseScopes("write:/fs/blog, read:/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p     string
		write bool
		ok    bool
	}{
		{"/fs/blog", true, true}, {"/fs/blog/a/b", true, true}, {"/fs/blogger", false, false},
		{"/fs", false, false}, {"/", false, false}, {"/net/routes/x", false, true}, {"/net/routes/x", true, false},
		{"/security", false, false},
	} {
		if got := Allows(s, c.p, c.write); got != c.ok {
			t.Errorf("Allows(%s, write=%v) = %v", c.p, c.write, got)
		}
	}
	if !Allows(Root, "/security/tokens", true) {
		t.Error("root cannot write /security")
	}
	for _, bad := range []string{"", "admin:/", "read:fs", "read:/fs/../security", "write:/fs/", "read:/fs//x"} {
		if _, err := ParseScopes(bad); kernel.KindOf(err) != kernel.Invalid {
			t.Errorf("ParseScopes(%q) = %v", bad, err)
		}
	}
}

func TestPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$") || strings.Contains(h, "horse") {
		t.Fatalf("hash %q", h)
	}
	if !CheckPassword(h, "correct horse battery") || CheckPassword(h, "correct horse batterz") || CheckPassword(h, "") {
		t.Fatal("CheckPassword")
	}
	h2, _ := HashPassword("correct horse battery")
	if h2 == h {
		t.Fatal("no salt")
	}
	if _, err := HashPassword("short"); kernel.KindOf(err) != kernel.Invalid {
		t.Fatalf("short password: %v", err)
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=1,t=1,p=0$x$y", "$bcrypt$...", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA"} {
		if CheckPassword(bad, "x") {
			t.Fatalf("CheckPassword(%q) passed", bad)
		}
	}
}

// Every kind of bad token is refused, with the same answer.
func TestTokensAdversarial(t *testing.T) {
	ctx := context.Background()
	a, _ := newAuthority(t)
	scopes, _ := ParseScopes("write:/fs/blog")
	tok, secret, err := a.Mint(ctx, "ci", scopes, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g, err := a.Verify(ctx, secret)
	if err != nil || g.ID != tok.ID || g.Name != "ci" || len(g.Scopes) != 1 || g.Scopes[0] != scopes[0] {
		t.Fatalf("Verify = %+v, %v", g, err)
	}
	k, _ := a.currentKey(ctx)
	kid := strconv.FormatInt(k.id, 10)
	now := time.Now()
	claims := func(mod func(*jwt.RegisteredClaims)) jwt.RegisteredClaims {
		c := jwt.RegisteredClaims{Issuer: Issuer, Audience: jwt.ClaimStrings{Audience}, ID: tok.ID, Subject: "ci",
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}
		mod(&c)
		return c
	}
	sign := func(method jwt.SigningMethod, key any, c jwt.RegisteredClaims, kid string) string {
		jt := jwt.NewWithClaims(method, c)
		jt.Header["kid"] = kid
		s, err := jt.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	same := func(c jwt.RegisteredClaims) string { return sign(jwt.SigningMethodHS256, k.secret, c, kid) }
	// The control: a token made here the same way passes.
	if _, err := a.Verify(ctx, same(claims(func(*jwt.RegisteredClaims) {}))); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pub, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	none := func() string {
		jt := jwt.NewWithClaims(jwt.SigningMethodNone, claims(func(*jwt.RegisteredClaims) {}))
		jt.Header["kid"] = kid
		s, _ := jt.SignedString(jwt.UnsafeAllowNoneSignatureType)
		return s
	}()
	bad := map[string]string{
		"forged":          sign(jwt.SigningMethodHS256, []byte("not the key, not the key, not it!"), claims(func(*jwt.RegisteredClaims) {}), kid),
		"expired":         same(claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) })),
		"no expiry":       same(claims(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil })),
		"not yet valid":   same(claims(func(c *jwt.RegisteredClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) })),
		"issued later":    same(claims(func(c *jwt.RegisteredClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })),
		"wrong audience":  same(claims(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"someone-else"} })),
		"wrong issuer":    same(claims(func(c *jwt.RegisteredClaims) { c.Issuer = "evil" })),
		"unknown id":      same(claims(func(c *jwt.RegisteredClaims) { c.ID = "0123456789abcdef01234567" })),
		"other kid":       sign(jwt.SigningMethodHS256, k.secret, claims(func(*jwt.RegisteredClaims) {}), "999"),
		"alg none":        none,
		"RS256":           sign(jwt.SigningMethodRS256, rsaKey, claims(func(*jwt.RegisteredClaims) {}), kid),
		"HS with RSA pub": sign(jwt.SigningMethodHS256, pubPEM, claims(func(*jwt.RegisteredClaims) {}), kid),
		"HS384":           sign(jwt.SigningMethodHS384, k.secret, claims(func(*jwt.RegisteredClaims) {}), kid),
		"garbage":         "not.a.token",
		"empty":           "",
		"tampered":        secret[:len(secret)-2] + "AA",
	}
	for name, s := range bad {
		if _, err := a.Verify(ctx, s); kernel.KindOf(err) != kernel.Permission || err.Error() != errDenied.Error() {
			t.Errorf("%s: Verify = %v", name, err)
		}
	}
	// Revoked: refused at once.
	if err := a.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, secret); kernel.KindOf(err) != kernel.Permission {
		t.Fatalf("revoked token: %v", err)
	}
	if err := a.Revoke(ctx, tok.ID); kernel.KindOf(err) != kernel.NotExist {
		t.Fatalf("second revoke: %v", err)
	}
	// Rotation voids every earlier token.
	_, s2, _ := a.Mint(ctx, "ci2", scopes, time.Hour)
	if err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, s2); kernel.KindOf(err) != kernel.Permission {
		t.Fatalf("token after rotation: %v", err)
	}
	if ids, _ := a.IDs(ctx); len(ids) != 0 {
		t.Fatalf("tokens after rotation: %v", ids)
	}
	_, s3, _ := a.Mint(ctx, "ci3", scopes, time.Hour)
	if _, err := a.Verify(ctx, s3); err != nil {
		t.Fatalf("a token of the new key: %v", err)
	}
	for _, c := range []struct {
		name string
		ttl  time.Duration
	}{{"bad name!", time.Hour}, {"ok", 0}, {"ok", 2 * MaxTTL}} {
		if _, _, err := a.Mint(ctx, c.name, scopes, c.ttl); kernel.KindOf(err) != kernel.Invalid {
			t.Errorf("Mint(%q, %v) = %v", c.name, c.ttl, err)
		}
	}
}

func TestTokenRecords(t *testing.T) {
	ctx := context.Background()
	a, _ := newAuthority(t)
	scopes, _ := ParseScopes("read:/fs")
	tok, secret, err := a.Mint(ctx, "reader", scopes, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Token(ctx, tok.ID)
	if err != nil || !got.LastUsed.IsZero() {
		t.Fatalf("Token = %+v %v", got, err)
	}
	d := got.Describe()
	if !strings.Contains(d, "name reader\nscopes read:/fs\n") || !strings.Contains(d, "last_used -") || strings.Contains(d, secret) {
		t.Fatalf("Describe:\n%s", d)
	}
	a.Verify(ctx, secret)
	if got, _ := a.Token(ctx, tok.ID); got.LastUsed.IsZero() {
		t.Fatal("last use not recorded")
	}
	ids, _ := a.IDs(ctx)
	if len(ids) != 1 || ids[0] != tok.ID {
		t.Fatalf("IDs = %v", ids)
	}
}

func TestLogin(t *testing.T) {
	ctx := context.Background()
	a, _ := newAuthority(t)
	if _, _, err := a.Login(ctx, "1.2.3.4", "anything at all"); kernel.KindOf(err) != kernel.Permission {
		t.Fatalf("login without a password: %v", err)
	}
	if err := a.SetRootPassword(ctx, "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	tok, secret, err := a.Login(ctx, "1.2.3.4", "correct horse battery")
	if err != nil || len(tok.Scopes) != 1 || tok.Scopes[0] != Root[0] {
		t.Fatalf("Login = %+v %v", tok, err)
	}
	if _, err := a.Verify(ctx, secret); err != nil {
		t.Fatal(err)
	}
	// Failures from one client: after the burst, refused without a check,
	// even with the right password; another client still gets in.
	for i := 0; i < clientBurst; i++ {
		if _, _, err := a.Login(ctx, "6.6.6.6", "wrong password here"); kernel.KindOf(err) != kernel.Permission {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, _, err := a.Login(ctx, "6.6.6.6", "correct horse battery"); kernel.KindOf(err) != kernel.Busy {
		t.Fatalf("after the burst: %v", err)
	}
	if _, _, err := a.Login(ctx, "5.5.5.5", "correct horse battery"); err != nil {
		t.Fatalf("another client: %v", err)
	}
	if a.Failures() < clientBurst {
		t.Fatalf("failures %d", a.Failures())
	}
}

// The remote front: credentials in both forms, paths that are not
// canonical, the body limit, and scopes turned into levels.
func TestRemote(t *testing.T) {
	ctx := context.Background()
	a, _ := newAuthority(t)
	a.MaxBody = 1 << 10
	scopes, _ := ParseScopes("write:/fs/blog read:/net")
	_, secret, err := a.Mint(ctx, "ci", scopes, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var levels []kernel.Level
	tree := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		// What the API would ask for each path.
		levels = nil
		for _, p := range []string{"/fs/blog/x", "/net/routes", "/fs", "/", "/fs/other", "/security"} {
			levels = append(levels, kernel.LevelAt(r.Context(), p))
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(a.Remote(tree))
	defer srv.Close()
	do := func(method, path, auth string, body io.Reader) int {
		req, _ := http.NewRequest(method, srv.URL+path, body)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("anyone:"+secret))
	for _, c := range []struct {
		method, path, auth string
		body               io.Reader
		want               int
	}{
		{"GET", "/fs/blog/x", "", nil, 401},
		{"GET", "/fs/blog/x", "Bearer " + secret, nil, 204},
		{"GET", "/fs/blog/x", basic, nil, 204},
		{"GET", "/fs/blog/x", "Bearer " + secret + "x", nil, 401},
		{"GET", "/fs/blog/../other", "Bearer " + secret, nil, 400},
		{"GET", "/fs/blog/%2e%2e/other", "Bearer " + secret, nil, 400},
		{"GET", "/fs/blog%2Fx", "Bearer " + secret, nil, 400},
		{"GET", "/fs/blog/%00", "Bearer " + secret, nil, 400},
		{"GET", "/fs//blog", "Bearer " + secret, nil, 400},
		{"PUT", "/fs/blog/x", "Bearer " + secret, strings.NewReader(strings.Repeat("x", 2<<10)), 413},
		{"PUT", "/fs/blog/x", "Bearer " + secret, strings.NewReader("small"), 204},
	} {
		if got := do(c.method, c.path, c.auth, c.body); got != c.want {
			t.Errorf("%s %s (%.12s): %d, want %d", c.method, c.path, c.auth, got, c.want)
		}
	}
	want := []kernel.Level{kernel.Write, kernel.Read, kernel.Traverse, kernel.Traverse, kernel.None, kernel.None}
	if LevelOf(scopes, "/fs/.staging/blog/x") != kernel.Write || LevelOf(scopes, "/fs/.deploys/blog") != kernel.Write ||
		LevelOf(scopes, "/fs/.staging/other") != kernel.None || LevelOf(scopes, "/fs/.staging") != kernel.Traverse {
		t.Fatal("a site's scope does not cover its deploys")
	}
	for i := range want {
		if levels[i] != want[i] {
			t.Fatalf("levels %v, want %v", levels, want)
		}
	}
}
