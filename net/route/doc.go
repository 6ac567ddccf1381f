// Package route keeps the route table, which says what answers for a host
// name, and contributes the /net tree where it is configured:
//
//	/net/routes/<host>   one value file per route; the value is the target
//	/net/ctl             route add HOST TARGET, route rm HOST
//	/net/status          key value lines
//	/net/err             why the last write under /net failed
//
// # Targets
//
//	SITE            a site: the directory /fs/SITE
//	redirect URL    answer with a redirect to URL (http or https)
//	proxy URL       pass the request on to URL (http or https)
//
// Host names are lower-case DNS names (labels of a-z, 0-9 and '-', 1 to 63
// bytes, 253 in all); a first label "*" makes a wildcard, and "*" alone
// matches any host. Values are stored
// in the routes table in their canonical form, which is the form a read
// returns, and validated on every write: a bad host or target is refused
// with Invalid (EINVAL) and its reason in /net/err.
//
// Serving HTTP by these routes is the net/httpd package's job (next).
package route
