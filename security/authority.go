package security

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/fazt-sh/fazt/storage"
)

// The claims every token carries, checked on every request.
const (
	Issuer   = "fazt"
	Audience = "fazt-api"
)

// rootPassKey is the setting holding the root password's argon2id hash.
const rootPassKey = "security.root_pass"

// MaxTTL bounds a token's life.
const MaxTTL = 366 * 24 * time.Hour

// lastUseEvery is how often, at most, a token's last use is written.
const lastUseEvery = time.Minute

// Token is a minted token as the tree shows it: never its secret.
type Token struct {
	ID       string
	Name     string
	Scopes   []Scope
	Created  time.Time
	Expires  time.Time
	LastUsed time.Time // zero: never
}

// Grant is what a verified token allows.
type Grant struct {
	ID     string
	Name   string
	Scopes []Scope
}

// Caller is the kernel's caller for a request made with the token: the
// kernel checks its scopes on every path it resolves.
func (g Grant) Caller() kernel.Caller {
	scopes := withDeploys(g.Scopes) // once: the kernel asks at every step of every walk
	return kernel.Caller{Name: g.Name, Remote: true, Access: func(p string) kernel.Level { return levelIn(scopes, p) }}
}

// Authority mints and verifies tokens and checks the root password.
type Authority struct {
	// MaxBody bounds a remote request's body; set before serving.
	MaxBody int64

	db      *storage.DB
	log     *slog.Logger
	limiter *limiter
	hashing chan struct{} // one argon2 computation at a time (19 MiB each)

	mu       sync.Mutex // guards key, used
	key      *signingKey
	used     map[string]time.Time // token id -> last use written
	failures int                  // logins refused, for status
}

type signingKey struct {
	id     int64
	secret []byte
}

// New returns the authority of db.
func New(db *storage.DB, log *slog.Logger) *Authority {
	return &Authority{MaxBody: DefaultMaxBody, db: db, log: log, limiter: newLimiter(), hashing: make(chan struct{}, 1), used: map[string]time.Time{}}
}

// currentKey returns the newest signing key, making the first one if none.
func (a *Authority) currentKey(ctx context.Context) (*signingKey, error) {
	a.mu.Lock()
	k := a.key
	a.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k = &signingKey{}
	err := a.db.View(ctx, func(tx *storage.Tx) error {
		return tx.QueryRow(`SELECT id, secret FROM security_keys ORDER BY id DESC LIMIT 1`).Scan(&k.id, &k.secret)
	})
	if kernel.KindOf(err) == kernel.NotExist {
		return a.newKey(ctx)
	}
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.key = k
	a.mu.Unlock()
	return k, nil
}

// Reloaded forgets the signing key read from the database, which changed
// under the authority: a follower applied the primary's transactions (a
// rotation there), or a standby became the primary.
func (a *Authority) Reloaded() {
	a.mu.Lock()
	a.key = nil
	a.mu.Unlock()
}

// newKey adds a signing key, which becomes the current one.
func (a *Authority) newKey(ctx context.Context) (*signingKey, error) {
	k := &signingKey{secret: make([]byte, 32)}
	if _, err := rand.Read(k.secret); err != nil {
		return nil, err
	}
	err := a.db.WriteSync(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(`INSERT INTO security_keys (secret, created) VALUES (?, ?)`, k.secret, time.Now().UnixNano())
		if err != nil {
			return err
		}
		k.id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.key = k
	a.mu.Unlock()
	return k, nil
}

// Rotate replaces the signing key: every token minted so far stops
// working at once, and their records go.
func (a *Authority) Rotate(ctx context.Context) error {
	k, err := a.newKey(ctx)
	if err != nil {
		return err
	}
	err = a.db.WriteSync(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(`DELETE FROM security_tokens WHERE key_id <> ?`, k.id)
		return err
	})
	if err == nil {
		a.log.Warn("security: signing key rotated; every earlier token is void")
	}
	return err
}

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// Mint makes a token and returns it with its secret, which is shown once.
func (a *Authority) Mint(ctx context.Context, name string, scopes []Scope, ttl time.Duration) (Token, string, error) {
	if !tokenName.MatchString(name) {
		return Token{}, "", kernel.E(kernel.Invalid, fmt.Sprintf("bad token name %q: letters, digits, . _ @ -, at most 64", name))
	}
	if len(scopes) == 0 {
		return Token{}, "", kernel.E(kernel.Invalid, "a token needs at least one scope")
	}
	if ttl <= 0 || ttl > MaxTTL {
		return Token{}, "", kernel.E(kernel.Invalid, fmt.Sprintf("bad lifetime %v: between 1s and %v", ttl, MaxTTL))
	}
	k, err := a.currentKey(ctx)
	if err != nil {
		return Token{}, "", err
	}
	idb := make([]byte, 12)
	if _, err := rand.Read(idb); err != nil {
		return Token{}, "", err
	}
	now := time.Now().Truncate(time.Second)
	t := Token{ID: hex.EncodeToString(idb), Name: name, Scopes: scopes, Created: now, Expires: now.Add(ttl)}
	claims := jwt.RegisteredClaims{
		Issuer: Issuer, Audience: jwt.ClaimStrings{Audience}, Subject: name, ID: t.ID,
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(t.Expires),
	}
	jt := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	jt.Header["kid"] = strconv.FormatInt(k.id, 10)
	secret, err := jt.SignedString(k.secret)
	if err != nil {
		return Token{}, "", err
	}
	err = a.db.WriteSync(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(`INSERT INTO security_tokens (id, name, scopes, key_id, created, expires) VALUES (?, ?, ?, ?, ?, ?)`,
			t.ID, name, formatScopes(scopes), k.id, now.UnixNano(), t.Expires.UnixNano())
		return err
	})
	if err != nil {
		return Token{}, "", err
	}
	a.log.Info("security: token minted", "id", t.ID, "name", name, "scopes", formatScopes(scopes), "expires", t.Expires.UTC().Format(time.RFC3339))
	return t, secret, nil
}

// errDenied is every verification failure as the client sees it: the
// reason is logged, not sent.
var errDenied = kernel.E(kernel.Permission, "authentication required: a valid token")

// Verify checks a token: its signature with the current key (HS256 only),
// issuer, audience, expiry, not-before, and that it was not revoked.
func (a *Authority) Verify(ctx context.Context, secret string) (Grant, error) {
	k, err := a.currentKey(ctx)
	if err != nil {
		return Grant{}, err
	}
	var claims jwt.RegisteredClaims
	_, err = jwt.ParseWithClaims(secret, &claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != strconv.FormatInt(k.id, 10) {
			return nil, errors.New("signed by another key (rotated)")
		}
		return k.secret, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(Issuer), jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(5*time.Second))
	if err != nil {
		a.log.Warn("security: token refused", "client", clientOf(ctx), "why", err)
		return Grant{}, errDenied
	}
	t, err := a.Token(ctx, claims.ID)
	if kernel.KindOf(err) == kernel.NotExist {
		a.log.Warn("security: token refused", "client", clientOf(ctx), "why", "revoked", "id", claims.ID)
		return Grant{}, errDenied
	}
	if err != nil {
		return Grant{}, err
	}
	a.markUsed(ctx, t.ID)
	return Grant{ID: t.ID, Name: t.Name, Scopes: t.Scopes}, nil
}

type clientKey struct{}

// withClient records the address of the client whose request ctx serves,
// for the log.
func withClient(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientKey{}, addr)
}

func clientOf(ctx context.Context) string {
	s, _ := ctx.Value(clientKey{}).(string)
	if s == "" {
		return "-"
	}
	return s
}

// markUsed records a token's use, at most once a minute.
func (a *Authority) markUsed(ctx context.Context, id string) {
	if a.db.Follows() != "" {
		return // a follower's tokens are the primary's, and only it writes
	}
	now := time.Now()
	a.mu.Lock()
	if now.Sub(a.used[id]) < lastUseEvery {
		a.mu.Unlock()
		return
	}
	a.used[id] = now
	a.mu.Unlock()
	err := a.db.Write(ctx, func(tx *storage.Tx) error {
		_, err := tx.Exec(`UPDATE security_tokens SET last_used = ? WHERE id = ?`, now.UnixNano(), id)
		return err
	})
	if err != nil {
		a.log.Warn("security: cannot record a token's use", "id", id, "err", err)
	}
}

// Token returns a token's record.
func (a *Authority) Token(ctx context.Context, id string) (Token, error) {
	var t Token
	var scopes string
	var created, expires, used int64
	err := a.db.View(ctx, func(tx *storage.Tx) error {
		return tx.QueryRow(`SELECT t.id, t.name, t.scopes, t.created, t.expires, t.last_used FROM security_tokens t
			WHERE t.id = ? AND t.key_id = (SELECT max(id) FROM security_keys)`, id).
			Scan(&t.ID, &t.Name, &scopes, &created, &expires, &used)
	})
	if err != nil {
		if kernel.KindOf(err) == kernel.NotExist || errors.Is(err, sql.ErrNoRows) {
			return t, kernel.E(kernel.NotExist, "no token "+id)
		}
		return t, err
	}
	t.Created, t.Expires = time.Unix(0, created), time.Unix(0, expires)
	if used != 0 {
		t.LastUsed = time.Unix(0, used)
	}
	if t.Scopes, err = ParseScopes(scopes); err != nil {
		return t, kernel.E(kernel.Internal, "stored scopes of "+id+": "+err.Error())
	}
	return t, nil
}

// IDs lists the tokens of the current key, newest first.
func (a *Authority) IDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := a.db.View(ctx, func(tx *storage.Tx) error {
		rows, err := tx.Query(`SELECT id FROM security_tokens WHERE key_id = (SELECT max(id) FROM security_keys) ORDER BY created DESC, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids, err
}

// Revoke voids a token at once.
func (a *Authority) Revoke(ctx context.Context, id string) error {
	var n int64
	err := a.db.WriteSync(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(`DELETE FROM security_tokens WHERE id = ?`, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return kernel.E(kernel.NotExist, "no token "+id)
	}
	a.log.Info("security: token revoked", "id", id)
	return nil
}

// Describe renders a token's record, as /security/tokens/<id> shows it.
func (t Token) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "name %s\nscopes %s\ncreated %s\nexpires %s\n", t.Name, formatScopes(t.Scopes),
		t.Created.UTC().Format(time.RFC3339), t.Expires.UTC().Format(time.RFC3339))
	used := "-"
	if !t.LastUsed.IsZero() {
		used = t.LastUsed.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(&b, "last_used %s", used)
	return b.String()
}
