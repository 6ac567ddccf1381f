package security

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/fazt-sh/fazt/kernel"
)

// Login attempts are limited per client and for everyone: a client gets 5
// attempts and then one every 12 s; all clients together 1 a second after
// a burst of 20. Only failures spend the allowance, but an attempt holds
// its share while its password is checked, so a burst of concurrent
// guesses is limited as the same guesses one by one are. The owner needs
// no password on the machine: the local socket mints tokens
// (/security/mint) however remote logins are throttled.
const (
	clientBurst = 5
	clientEvery = 12 * time.Second
	globalBurst = 20
	globalEvery = time.Second
	maxClients  = 10000 // limiters kept; the oldest go first
)

// LoginTTL is the life of a token obtained with the root password.
const LoginTTL = 30 * 24 * time.Hour

type limiter struct {
	mu       sync.Mutex // guards the fields below
	global   *rate.Limiter
	clients  map[string]*rate.Limiter
	order    []string
	checking int            // attempts being checked now, everyone's
	per      map[string]int // attempts being checked now, by client
}

func newLimiter() *limiter {
	return &limiter{global: rate.NewLimiter(rate.Every(globalEvery), globalBurst), clients: map[string]*rate.Limiter{}, per: map[string]int{}}
}

// begin says whether client may try now and, if so, counts the attempt
// as being checked until end: attempts in flight hold their share of the
// allowance, so N concurrent guesses get no more checks than N guesses
// one after the other would.
func (l *limiter) begin(client string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	left := float64(clientBurst)
	if c := l.clients[client]; c != nil {
		left = c.Tokens()
	}
	if l.global.Tokens()-float64(l.checking) < 1 || left-float64(l.per[client]) < 1 {
		return false
	}
	l.checking++
	l.per[client]++
	return true
}

// end closes an attempt begun; a failed one spends an attempt of
// client's and of everyone's (a success spends nothing).
func (l *limiter) end(client string, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checking--
	if l.per[client]--; l.per[client] <= 0 {
		delete(l.per, client)
	}
	if !failed {
		return
	}
	c := l.clients[client]
	if c == nil {
		if len(l.order) >= maxClients {
			delete(l.clients, l.order[0])
			l.order = l.order[1:]
		}
		c = rate.NewLimiter(rate.Every(clientEvery), clientBurst)
		l.clients[client] = c
		l.order = append(l.order, client)
	}
	c.Allow()
	l.global.Allow()
}

// SetRootPassword sets the root password (its argon2id hash is kept).
func (a *Authority) SetRootPassword(ctx context.Context, pw string) error {
	h, err := a.hash(ctx, func() (string, error) { return HashPassword(pw) })
	if err != nil {
		return err
	}
	if err := a.db.PutSetting(ctx, rootPassKey, h); err != nil {
		return err
	}
	if err := a.db.Commit(ctx); err != nil {
		return err
	}
	a.log.Info("security: root password set")
	return nil
}

// HasRootPassword says whether a root password is set.
func (a *Authority) HasRootPassword(ctx context.Context) (bool, error) {
	h, err := a.db.Setting(ctx, rootPassKey, "")
	return h != "", err
}

// hash runs one argon2 computation at a time.
func (a *Authority) hash(ctx context.Context, fn func() (string, error)) (string, error) {
	select {
	case a.hashing <- struct{}{}:
	case <-ctx.Done():
		return "", kernel.Wrap(kernel.Interrupted, ctx.Err())
	}
	defer func() { <-a.hashing }()
	return fn()
}

// errLoginLimited is a refused attempt.
var errLoginLimited = kernel.E(kernel.Busy, "too many failed logins: wait and try again")

// Login checks the root password for client (its address) and mints a
// token with every right for LoginTTL. Failures are slowed down, counted
// and logged; their reason is not told.
func (a *Authority) Login(ctx context.Context, client, pw string) (Token, string, error) {
	if !a.limiter.begin(client) {
		a.log.Warn("security: login refused: too many failures", "client", client)
		return Token{}, "", errLoginLimited
	}
	ok, failed := false, false
	defer func() { a.limiter.end(client, failed) }()
	h, err := a.db.Setting(ctx, rootPassKey, "")
	if err != nil {
		return Token{}, "", err
	}
	if _, err := a.hash(ctx, func() (string, error) {
		if h == "" {
			// No password set: no login, in the time a check takes.
			CheckPassword(dummyHash(), pw)
			return "", nil
		}
		ok = CheckPassword(h, pw)
		return "", nil
	}); err != nil {
		return Token{}, "", err
	}
	if !ok {
		failed = true
		a.mu.Lock()
		a.failures++
		a.mu.Unlock()
		a.log.Warn("security: login failed", "client", client)
		return Token{}, "", errDenied
	}
	a.log.Info("security: login", "client", client)
	return a.Mint(ctx, "login", Root, LoginTTL)
}

// dummyHash is checked when no password is set, so that the answer takes
// as long as a real check. Made at the first need, not at start: an
// argon2 hash (19 MiB, ~50 ms) in every process made each CLI command
// take 60 ms instead of 6.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("no password is set here")
	return h
})

// Failures counts the logins refused since the kernel started.
func (a *Authority) Failures() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failures
}
