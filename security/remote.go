package security

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/api"
	"github.com/fazt-sh/fazt/kernel"
)

// DefaultMaxBody bounds a remote request's body (a file written through
// the API) unless Authority.MaxBody says otherwise.
const DefaultMaxBody = 1 << 30

// Remote serves tree (the API handler) to remote clients. A request proves
// itself with a token, as "Authorization: Bearer TOKEN" or as the password
// of HTTP Basic (any user name), so that curl, rclone and davfs2 work; it
// then sees only what the token's scopes allow. POST /?op=login with Basic
// root:PASSWORD trades the root password for a token.
func (a *Authority) Remote(tree http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if reason := badPath(r); reason != "" {
			a.log.Warn("security: request refused", "client", r.RemoteAddr, "why", reason)
			deny(w, http.StatusBadRequest, kernel.Invalid, "bad path: "+reason)
			return
		}
		if r.ContentLength > a.MaxBody {
			deny(w, http.StatusRequestEntityTooLarge, kernel.TooLarge, fmt.Sprintf("request body over %d bytes", a.MaxBody))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.MaxBody)
		if r.Method == http.MethodPost && r.URL.Path == "/" && r.URL.Query().Get("op") == "login" {
			a.login(w, r)
			return
		}
		g, err := a.Verify(withClient(r.Context(), r.RemoteAddr), credential(r))
		if err != nil {
			if kernel.KindOf(err) == kernel.Permission {
				w.Header().Set("WWW-Authenticate", `Basic realm="fazt", charset="UTF-8"`)
				deny(w, http.StatusUnauthorized, kernel.Permission, "authentication required: a valid token")
				return
			}
			a.log.Error("security: cannot verify a token", "err", err)
			deny(w, http.StatusInternalServerError, kernel.Internal, kernel.Internal.String())
			return
		}
		ctx := kernel.WithCaller(r.Context(), g.Caller())
		tree.ServeHTTP(w, r.WithContext(ctx))
	})
}

// credential is the token a request carries, or "".
func credential(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	if _, pw, ok := r.BasicAuth(); ok {
		return pw
	}
	return ""
}

// badPath refuses paths that are not canonical: "..", ".", empty
// segments, encoded slashes or NULs. The tree would clean them; a client
// that sends them is confused or probing.
func badPath(r *http.Request) string {
	raw := strings.ToLower(r.URL.EscapedPath())
	switch {
	case strings.Contains(raw, "%2f"), strings.Contains(raw, "%5c"):
		return "encoded slash"
	case strings.Contains(raw, "%00"), strings.ContainsRune(r.URL.Path, 0):
		return "NUL"
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") {
		return "relative"
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			return "dot segment"
		}
	}
	if strings.Contains(p, "//") {
		return "empty segment"
	}
	return ""
}

// LevelOf is a token's level at the clean path p. A scope of a site,
// /fs/SITE, covers the site's deploys too: /fs/.staging/SITE (a deploy
// being prepared) and /fs/.deploys/SITE (past deploys).
func LevelOf(scopes []Scope, p string) kernel.Level {
	return levelIn(withDeploys(scopes), p)
}

// levelIn is LevelOf with the deploy trees already added.
func levelIn(scopes []Scope, p string) kernel.Level {
	lvl := kernel.None
	for _, s := range scopes {
		switch {
		case under(p, s.Prefix) && s.Write:
			return kernel.Write
		case under(p, s.Prefix):
			lvl = max(lvl, kernel.Read)
		case under(s.Prefix, p): // p is a directory on the way to the scope
			lvl = max(lvl, kernel.Traverse)
		}
	}
	return lvl
}

// withDeploys adds the deploy trees of the sites that scopes name.
func withDeploys(scopes []Scope) []Scope {
	out := append([]Scope(nil), scopes...)
	for _, s := range scopes {
		site, ok := strings.CutPrefix(s.Prefix, "/fs/")
		if !ok || site == "" || strings.Contains(site, "/") || strings.HasPrefix(site, ".") {
			continue
		}
		out = append(out, Scope{Write: s.Write, Prefix: "/fs/.staging/" + site}, Scope{Write: s.Write, Prefix: "/fs/.deploys/" + site})
	}
	return out
}

func (a *Authority) login(w http.ResponseWriter, r *http.Request) {
	_, pw, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="fazt", charset="UTF-8"`)
		deny(w, http.StatusUnauthorized, kernel.Permission, "log in with HTTP Basic: root and the root password")
		return
	}
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	tok, secret, err := a.Login(r.Context(), client, pw)
	switch kernel.KindOf(err) {
	case kernel.Permission:
		time.Sleep(500 * time.Millisecond) // a failed guess costs the guesser
		deny(w, http.StatusUnauthorized, kernel.Permission, "wrong password")
		return
	case kernel.Busy:
		w.Header().Set("Retry-After", "15")
		deny(w, http.StatusTooManyRequests, kernel.Busy, "too many failed logins: wait and try again")
		return
	}
	if err != nil {
		a.log.Error("security: login failed", "err", err)
		deny(w, http.StatusInternalServerError, kernel.Internal, kernel.Internal.String())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(api.LoginAnswer{Token: secret, ID: tok.ID, Expires: tok.Expires})
}

// deny answers an error in the API's JSON form.
func deny(w http.ResponseWriter, status int, kind kernel.Kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"kind": kind.ID(), "error": msg})
}
