// Package httpd is fazt's front door: it answers HTTP requests by their
// Host from the route table, with the sites in /fs, redirects and reverse
// proxies.
//
// # Routing
//
// The route of a request is the route of its host (lower-cased, without the
// port), else the wildcard one label up ("*.example.com"), else the
// catch-all "*"; a host with no route gets a plain 404 page. Routes are held
// in memory by the route table and replaced whole on every change, so a
// change applies to the next request, without a restart or a dropped
// connection.
//
// # Sites
//
// A site is served from /fs/SITE by committed state only (kernel.Publisher):
// one read transaction of the reader pool resolves the path and captures the
// file, so a deploy in progress never stalls a visitor and a visitor never
// sees half a file. What the server answers:
//
//   - a directory: its index.html (a path without its final slash is
//     redirected to it);
//   - a missing path: the file named in SITE/.fazt/spa if the site has one
//     (a single-page app), else SITE/404.html with status 404, else a plain
//     404 page;
//   - a path with a component starting with '.' (.git, .fazt, .env), except
//     .well-known: 404. Paths are cleaned: '..' cannot climb above the site,
//     encoded slashes and NUL are refused, and a site is read by a caller
//     that may read /fs/SITE and nothing else (visitor): the kernel's own
//     rule, so a symbolic link that leads out of the site leads nowhere.
//
// Every listener bounds slow clients (Limits): 10 s for headers, request
// bodies cut when they stall or trickle, a cap on one address's
// connections.
//
// Responses carry a strong ETag derived from the content's hash (304 on
// If-None-Match), Last-Modified (304 on If-Modified-Since), the
// Content-Type of the extension (or sniffed), and Cache-Control: HTML must
// revalidate; names with a hash in them ("app.3f9a2c1b.js") are immutable
// for a year; the rest is fresh for five minutes. Range requests (206,
// several ranges) are served by net/http's ServeContent.
//
// # The cache and the store
//
// Entries for the files served lately are kept in memory, bounded in
// bytes (64 MiB by default): metadata and headers, and the bodies of files
// up to 64 KiB and of their compressed forms. Larger files, and the gzip
// and brotli forms of compressible ones, live in the store (store.go), a
// derived cache on the local disk named by content and sent with
// sendfile: the page cache holds them, not the heap. (net/http sends a
// file with sendfile only if the connection it holds has ReadFrom, as a
// TCP connection has: the per-client wrapper of limits.go passes it on.)
// Forms are made in the background by one worker, once per content; until
// a file's forms are made its entry is not cached and the file goes out
// whole. Each entry remembers the inodes its path went through; the
// namespace's change events, sent once a change is committed, drop the
// entries that went through a changed inode, and the worker drops those of
// a content whose forms it just made.
//
// # Redirects and proxies
//
// "redirect URL" answers 301 (GET, HEAD) or 308 (other methods) to URL with
// the request's path and query appended. "proxy URL" passes the request to
// URL with net/http/httputil's reverse proxy, which adds X-Forwarded-For,
// -Host and -Proto and carries WebSocket upgrades.
//
// # In the tree
//
// Server.AddFiles adds /net/http and /net/https (the addresses; a move
// reconfigures the certificates' challenges) and the listeners' lines of
// /net/status.
package httpd
