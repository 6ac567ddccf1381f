package deploy

import "testing"

func TestLeaves(t *testing.T) {
	for _, c := range []struct {
		rel, target string
		want        bool
	}{
		{"a/jquery.js", "/usr/share/javascript/jquery/jquery.js", true},
		{"a/x", "../../outside", true},
		{"x", "..", true},
		{"a/x", "../b/y", false},
		{"a/x", "y", false},
		{"a/x", "/fs/blog/b/y", false},
		{"a/x", "/fs/blogger/y", true},
		{"a/x", "/fs/other/y", true},
	} {
		if got := leaves("blog", c.rel, c.target); got != c.want {
			t.Errorf("leaves(%s -> %s) = %v", c.rel, c.target, got)
		}
	}
}
