// Package posixtest is a suite of POSIX file system behaviours that fazt's
// mount must have because real tools rely on them. Every test takes a
// directory; the suite runs against fazt's mount and against a plain
// directory on the host, which proves that the suite itself is right.
package posixtest
