package security

import (
	"fmt"
	"strings"

	"github.com/fazt-sh/fazt/kernel"
)

// Scope is what a token may do: read, or write (which includes read),
// at a path of the tree and everything under it.
type Scope struct {
	Write  bool
	Prefix string // a clean absolute path: "/", "/fs/blog"
}

func (s Scope) String() string {
	if s.Write {
		return "write:" + s.Prefix
	}
	return "read:" + s.Prefix
}

// ParseScope reads "read:/fs/blog" or "write:/fs/blog".
func ParseScope(s string) (Scope, error) {
	verb, p, ok := strings.Cut(s, ":")
	if !ok || (verb != "read" && verb != "write") {
		return Scope{}, kernel.E(kernel.Invalid, fmt.Sprintf("bad scope %q: want read:PATH or write:PATH", s))
	}
	clean, err := kernel.CleanPath(p)
	if err != nil || !strings.HasPrefix(p, "/") || clean != p {
		return Scope{}, kernel.E(kernel.Invalid, fmt.Sprintf("bad scope %q: the path must be absolute and clean (/fs/blog)", s))
	}
	return Scope{Write: verb == "write", Prefix: clean}, nil
}

// ParseScopes reads space- or comma-separated scopes; at least one.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' }) {
		sc, err := ParseScope(f)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		return nil, kernel.E(kernel.Invalid, "a token needs at least one scope (read:PATH or write:PATH)")
	}
	return out, nil
}

func formatScopes(scopes []Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// under says whether the clean path p is prefix or below it.
func under(p, prefix string) bool {
	return prefix == "/" || p == prefix || strings.HasPrefix(p, prefix+"/")
}

// Allows says whether scopes permit reading (or writing) the clean path p.
func Allows(scopes []Scope, p string, write bool) bool {
	for _, s := range scopes {
		if (s.Write || !write) && under(p, s.Prefix) {
			return true
		}
	}
	return false
}

// Root is the scope of the root password's tokens: everything.
var Root = []Scope{{Write: true, Prefix: "/"}}
