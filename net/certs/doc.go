// Package certs obtains and renews TLS certificates over ACME, with
// github.com/caddyserver/certmagic (built on github.com/mholt/acmez/v3),
// and keeps them, with the ACME account and every private key, in the
// database (table tls_store, through Store), so that one backup holds them.
//
// # Policy
//
// Certificates are obtained only for hosts that have a route (exact names:
// wildcards need DNS challenges, which fazt does not do), when TLS is on.
// They are obtained as soon as the route exists, in the background with
// backoff on failure, never on demand: a TLS handshake for a name without a
// certificate fails, so nobody can make fazt ask the CA for arbitrary names
// and burn its rate limits. certmagic renews ahead of expiry (a third of
// the lifetime before it). A removed route's certificate is no longer
// renewed; it stays stored for a route added back.
//
// Challenges: HTTP-01 (the HTTP listener answers
// /.well-known/acme-challenge/, HTTPChallenge) and TLS-ALPN-01 (the HTTPS
// listener answers acme-tls/1, TLSConfig). The CA connects to ports 80 and
// 443: they must reach fazt's listeners. The manager tells certmagic which
// ports fazt listens on so that it uses them instead of binding its own.
//
// # On a follower (an edge)
//
// A follower's database is the primary's: it never asks the CA, serves the
// certificates the primary stored (edge.go: loaded from the store by SNI,
// forgotten by Reload at each apply) and answers the primary's HTTP-01 and
// TLS-ALPN-01 challenges from the challenge data stored with them
// (certmagic's distributed solving). The primary's store calls back once a
// challenge is stored (OnChallengeStored), so the data reaches the
// followers before the CA is told to look.
//
// # Settings (in the database; written through /net/ctl)
//
//	tls              on | off (off by default: turn it on with real DNS names)
//	acme.ca          the directory URL (Let's Encrypt's production by default)
//	acme.email       the account's contact address (optional)
//	acme.challenges  http-01, tls-alpn-01, or both (the default)
//
// A private CA's root is trusted through SSL_CERT_FILE or SSL_CERT_DIR in
// the kernel's environment, as Go does everywhere.
//
// # In the tree
//
// Manager.AddFiles adds these, the TLS and ACME verbs of /net/ctl, and the
// settings' lines of /net/status:
//
//	/net/certs/<host>/cert.pem   the certificate chain (never a key)
//	/net/certs/<host>/status     issuer, names, serial, not_before,
//	                             not_after, last_error
package certs
