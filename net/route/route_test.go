package route

import (
	"strings"
	"testing"

	"github.com/fazt-sh/fazt/kernel"
)

func TestValidHost(t *testing.T) {
	for _, h := range []string{"example.com", "blog.example.com", "localhost", "*.example.com", "*", "a-b.c0", "127.0.0.1",
		strings.Repeat("a", 63) + ".com"} {
		if err := ValidHost(h); err != nil {
			t.Errorf("ValidHost(%q) = %v", h, err)
		}
	}
	for _, h := range []string{"", "Example.com", "a..b", ".a", "a.", "-a.com", "a-.com", "a_b.com", "a b", "x.*.com",
		strings.Repeat("a", 64) + ".com", strings.Repeat("a.", 127) + "aa", "ä.com"} {
		if err := ValidHost(h); kernel.KindOf(err) != kernel.Invalid {
			t.Errorf("ValidHost(%q) = %v, want Invalid", h, err)
		}
	}
}

func TestParseTarget(t *testing.T) {
	good := map[string]string{
		"blog":                                "blog",
		"  blog \n":                           "blog",
		"my-site_2.v1":                        "my-site_2.v1",
		"redirect https://example.com/":       "redirect https://example.com/",
		"redirect   http://example.com/a?b=c": "redirect http://example.com/a?b=c",
		"proxy http://127.0.0.1:3000":         "proxy http://127.0.0.1:3000",
		"proxy https://[::1]:8443/prefix":     "proxy https://[::1]:8443/prefix",
	}
	for in, want := range good {
		if got, err := ParseTarget(in); err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Blog", "-blog", "a/b", "..", "redirect", "redirect /relative", "redirect ftp://x/",
		"proxy http://", "proxy http://x extra", "mirror http://x/", strings.Repeat("a", 64)} {
		if _, err := ParseTarget(in); kernel.KindOf(err) != kernel.Invalid {
			t.Errorf("ParseTarget(%q): %v, want Invalid", in, err)
		}
	}
}
