package certs

import (
	"context"
	"strings"

	"github.com/fazt-sh/fazt/ctl"
)

// AddFiles adds the certificates' files to d (/net): certs/HOST/, the TLS
// and ACME verbs of ctl, their settings in status.
func (m *Manager) AddFiles(d ctl.Dir) {
	d.Ctl("ctl", []ctl.Command{
		{Verb: "tls on", Help: "obtain certificates for the routed hosts and serve HTTPS",
			Run: func(ctx context.Context, _ []string) error { return m.SetTLS(ctx, true) }},
		{Verb: "tls off", Help: "stop obtaining certificates and refuse TLS handshakes",
			Run: func(ctx context.Context, _ []string) error { return m.SetTLS(ctx, false) }},
		{Verb: "acme ca", Args: []string{"URL"}, Help: "use the ACME directory URL (Let's Encrypt's by default)",
			Run: func(ctx context.Context, a []string) error { return m.SetCA(ctx, a[0]) }},
		{Verb: "acme email", Args: []string{"ADDR"}, Help: "the ACME account's contact address",
			Run: func(ctx context.Context, a []string) error { return m.SetEmail(ctx, a[0]) }},
		{Verb: "acme challenges", Args: []string{"LIST"}, Help: "http-01, tls-alpn-01 or all",
			Run: func(ctx context.Context, a []string) error { return m.SetChallenges(ctx, a[0]) }},
		{Verb: "cert renew", Args: []string{"HOST"}, Help: "obtain or renew the certificate of HOST now",
			Run: func(ctx context.Context, a []string) error { return m.Renew(ctx, a[0]) }},
	})
	d.Each("certs", m.Hosts, map[string]ctl.KeyRender{
		"cert.pem": m.CertPEM,
		"status":   m.Status,
	})
	d.Status("status", func(ctx context.Context) ([]byte, error) {
		var b strings.Builder
		for _, k := range []string{"tls", "acme.ca", "acme.email", "acme.challenges"} {
			b.WriteString(strings.ReplaceAll(k, ".", "_") + " " + m.Setting(ctx, k) + "\n")
		}
		return []byte(b.String()), nil
	})
	d.Err()
}
