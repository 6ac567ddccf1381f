package deploy

import (
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Links that leave the site. A site is served from its own tree: a link
// in it is followed within /fs/SITE (relative, or absolute from the
// namespace's root), and one that leads elsewhere is a 404 (Debian's HTML
// docs link their jQuery to /usr/share/javascript). A deploy says so, or,
// with CopyUnsafeLinks (rsync's --copy-unsafe-links), sends what such a
// link points to as a file in its place.

// leaves says whether the link at rel (in the source) with target leads
// outside site once deployed.
func leaves(site, rel, target string) bool {
	if strings.HasPrefix(target, "/") {
		return !strings.HasPrefix(path.Clean(target)+"/", SitePath(site)+"/")
	}
	p := path.Join(path.Dir(rel), target)
	return p == ".." || strings.HasPrefix(p, "../")
}

// unsafeLinks finds the links of files that leave site. With copy, each
// one that points to a regular file becomes that file (read through the
// link); the others stay links. It returns the files and the links that
// will not be served, as "REL -> TARGET".
func unsafeLinks(src, site string, files []local, copy bool) ([]local, []string) {
	var unsafe []string
	for i, f := range files {
		if f.target == "" || !leaves(site, f.rel, f.target) {
			continue
		}
		if copy {
			if fi, err := os.Stat(filepath.Join(src, filepath.FromSlash(f.rel))); err == nil && fi.Mode().IsRegular() {
				files[i] = local{rel: f.rel, mode: fi.Mode(), size: fi.Size(), stamp: stampOf(fi)}
				continue
			}
		}
		unsafe = append(unsafe, f.rel+" -> "+f.target)
	}
	return files, unsafe
}
