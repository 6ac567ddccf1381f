// Package security decides who may do what through the remote API.
//
// # The root password
//
// One password, the machine owner's, kept only as an argon2id hash (19 MiB,
// 2 passes, a random salt) in the database's settings. It is never used to
// call the API: it buys a token (Login), so a leaked token can be revoked
// without changing the password. Login attempts are rate limited per
// client and for everyone (golang.org/x/time/rate), only failures count,
// and argon2 runs one computation at a time so that a flood of attempts
// cannot take the machine's memory.
//
// # Tokens
//
// Tokens are JWTs (github.com/golang-jwt/jwt/v5) signed with HMAC-SHA256
// by a 32-byte key kept in the database (security_keys). Verification pins
// the algorithm (no "none", no RSA/HMAC confusion: only HS256 is accepted),
// checks the key id (kid), issuer, audience, expiry, not-before and issued-
// at, and then that the token's record (security_tokens, named by the jti
// claim) still exists: rm of /security/tokens/<id> revokes at once. The
// scopes are read from that record, not from the token. Rotate adds a new
// key: every earlier token stops working and its record goes. The token's
// text is shown once, when minted, and never stored.
//
// # Scopes
//
// A scope is read:PATH or write:PATH (write includes read): the path and
// everything under it. A verified token becomes a kernel.Caller (Grant.Caller)
// whose level at each path is LevelOf its scopes; the kernel checks it on
// every path it resolves, links followed, so a request outside the scopes
// is answered as if the path did not exist (404), revealing nothing, by
// whichever way it is spelled.
//
// # The front door
//
// Remote logins are counted before the password is checked (an attempt
// holds its share of the allowance while it is checked), so concurrent
// guesses are limited as sequential ones are. Bodies are capped
// (MaxBody; at once by Content-Length).
//
// The keys and the hash are in the database, so a backup holds them: a
// restored machine accepts the tokens it accepted before.
//
// # In the tree
//
// Authority.AddFiles builds /security: root-pass, tokens/, mint (a call
// file: no caller mints more than it may do), ctl (rotate), status.
package security
