// Package route keeps the route table, which says what answers for a host
// name. The table is a ctl.Collection: /net/routes/<host> shows one value
// file per route, whose value is the target. Table.AddFiles builds them,
// with the route verbs of /net/ctl and the route count of /net/status: /net
// is the union of this package's, net/httpd's and net/certs' files.
//
// # Targets
//
//	SITE            a site: the directory /fs/SITE
//	redirect URL    answer with a redirect to URL (http or https)
//	proxy URL       pass the request on to URL (http or https)
//	@api            the remote API: the tree, to clients with a token
//
// Host names are lower-case DNS names (labels of a-z, 0-9 and '-', 1 to 63
// bytes, 253 in all); a first label "*" makes a wildcard, and "*" alone
// matches any host. Values are stored in the routes table in their
// canonical form, which is the form a read returns, and validated on every
// write: a bad host or target is refused with Invalid (EINVAL) and its
// reason in /net/err.
//
// Routes live in memory too, replaced whole on every change, so that
// net/httpd matches a request without a query; OnChange tells the rest
// (the tree's caches, the certificate manager) of each change once made.
package route
