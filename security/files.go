package security

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/ctl"
	"github.com/fazt-sh/fazt/kernel"
)

// AddFiles adds the authority's files to root (/security): the root
// password, the tokens, minting, the signing key.
func (a *Authority) AddFiles(root ctl.Dir) {
	root.Value("root-pass", ctl.Value{Set: a.SetRootPassword})
	root.Collection("tokens", tokenColl{a})
	root.Call("mint", ctl.Call{
		Help: "open for reading and writing, write NAME TTL SCOPE..., read the token (shown once):\n" +
			"  NAME   letters, digits, . _ @ -\n  TTL    a duration: 30d, 12h, 90m\n  SCOPE  read:PATH or write:PATH (write includes read)\n",
		Run: func(ctx context.Context, line string) (string, error) {
			f := strings.Fields(line)
			if len(f) < 3 {
				return "", kernel.E(kernel.Invalid, "want NAME TTL SCOPE...")
			}
			ttl, err := ParseTTL(f[1])
			if err != nil {
				return "", err
			}
			scopes, err := ParseScopes(strings.Join(f[2:], " "))
			if err != nil {
				return "", err
			}
			// No caller mints more than it has: a token that may write
			// here could otherwise make itself write:/.
			for _, sc := range scopes {
				want := kernel.Read
				if sc.Write {
					want = kernel.Write
				}
				if kernel.LevelAt(ctx, sc.Prefix) < want {
					return "", kernel.E(kernel.Permission, "cannot mint "+sc.String()+": more than this caller may do there")
				}
			}
			tok, secret, err := a.Mint(ctx, f[0], scopes, ttl)
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("id %s\ntoken %s\nexpires %s\n", tok.ID, secret, tok.Expires.UTC().Format(time.RFC3339)), nil
		}})
	root.Ctl("ctl", []ctl.Command{
		{Verb: "rotate", Help: "replace the signing key: every token minted so far stops working",
			Run: func(ctx context.Context, _ []string) error { return a.Rotate(ctx) }},
	})
	root.Status("status", func(ctx context.Context) ([]byte, error) {
		has, err := a.HasRootPassword(ctx)
		if err != nil {
			return nil, err
		}
		ids, err := a.IDs(ctx)
		if err != nil {
			return nil, err
		}
		set := "unset"
		if has {
			set = "set"
		}
		return []byte(fmt.Sprintf("root_pass %s\ntokens %d\nlogin_failures %d\n", set, len(ids), a.Failures())), nil
	})
	root.Err()
}

var ttlDays = regexp.MustCompile(`^([0-9]{1,4})d$`)

// ParseTTL reads a token's life: a Go duration, or N days ("30d").
func ParseTTL(s string) (time.Duration, error) {
	if m := ttlDays.FindStringSubmatch(s); m != nil {
		var d int
		fmt.Sscan(m[1], &d)
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, kernel.E(kernel.Invalid, fmt.Sprintf("bad TTL %q: 30d, 12h, 90m", s))
	}
	return d, nil
}

// tokenColl shows the tokens as /security/tokens/<id>: rm revokes; they
// are minted through /security/mint.
type tokenColl struct{ a *Authority }

func (c tokenColl) Keys(ctx context.Context) ([]string, error) { return c.a.IDs(ctx) }

func (c tokenColl) Get(ctx context.Context, id string) (string, error) {
	t, err := c.a.Token(ctx, id)
	if err != nil {
		return "", err
	}
	return t.Describe(), nil
}

func (c tokenColl) Set(ctx context.Context, id, v string) error {
	return kernel.E(kernel.NotPermitted, "tokens are minted through /security/mint (fazt security token new)")
}

func (c tokenColl) Remove(ctx context.Context, id string) error { return c.a.Revoke(ctx, id) }

var tokenID = regexp.MustCompile(`^[0-9a-f]{24}$`)

func (c tokenColl) ValidKey(name string) error {
	if !tokenID.MatchString(name) {
		return kernel.E(kernel.Invalid, "not a token id")
	}
	return nil
}
