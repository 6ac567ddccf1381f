package proc

import (
	"context"
	"fmt"
	"strings"

	"github.com/fazt-sh/fazt/ctl"
)

// netTree builds /net: the routes, the listeners, TLS and certificates.
func (s *System) netTree() *ctl.Tree {
	tr := ctl.New("/net", s.Kernel.Log)
	root := tr.RootDir()
	routes := root.Collection("routes", s.routes)
	s.routes.OnChange(routes.Changed)
	certs, web := s.certs, s.web
	root.Ctl("ctl", []ctl.Command{
		{Verb: "route add", Args: []string{"HOST", "TARGET"}, Variadic: true,
			Help: "route HOST to TARGET: SITE, redirect URL or proxy URL",
			Run: func(ctx context.Context, a []string) error {
				return s.routes.Set(ctx, a[0], strings.Join(a[1:], " "))
			}},
		{Verb: "route rm", Args: []string{"HOST"}, Help: "remove the route of HOST",
			Run: func(ctx context.Context, a []string) error { return s.routes.Remove(ctx, a[0]) }},
		{Verb: "tls on", Help: "obtain certificates for the routed hosts and serve HTTPS",
			Run: func(ctx context.Context, _ []string) error { return certs.SetTLS(ctx, true) }},
		{Verb: "tls off", Help: "stop obtaining certificates and refuse TLS handshakes",
			Run: func(ctx context.Context, _ []string) error { return certs.SetTLS(ctx, false) }},
		{Verb: "acme ca", Args: []string{"URL"}, Help: "use the ACME directory URL (Let's Encrypt's by default)",
			Run: func(ctx context.Context, a []string) error { return certs.SetCA(ctx, a[0]) }},
		{Verb: "acme email", Args: []string{"ADDR"}, Help: "the ACME account's contact address",
			Run: func(ctx context.Context, a []string) error { return certs.SetEmail(ctx, a[0]) }},
		{Verb: "acme challenges", Args: []string{"LIST"}, Help: "http-01, tls-alpn-01 or all",
			Run: func(ctx context.Context, a []string) error { return certs.SetChallenges(ctx, a[0]) }},
		{Verb: "cert renew", Args: []string{"HOST"}, Help: "obtain or renew the certificate of HOST now",
			Run: func(ctx context.Context, a []string) error { return certs.Renew(ctx, a[0]) }},
	})
	// Moving a listener moves where the challenges are answered too.
	moved := func(set func(context.Context, string) error) func(context.Context, string) error {
		return func(ctx context.Context, addr string) error {
			if err := set(ctx, addr); err != nil {
				return err
			}
			return certs.Reconfigure(ctx)
		}
	}
	root.Value("http", ctl.Value{Get: web.HTTPAddr, Set: moved(web.SetHTTPAddr)})
	root.Value("https", ctl.Value{Get: web.HTTPSAddr, Set: moved(web.SetHTTPSAddr)})
	root.Each("certs", certs.Hosts, map[string]ctl.KeyRender{
		"cert.pem": certs.CertPEM,
		"status":   certs.Status,
	})
	root.Status("status", func(ctx context.Context) ([]byte, error) {
		n, err := s.routes.Keys(ctx)
		if err != nil {
			return nil, err
		}
		lines := append([]string{fmt.Sprintf("routes %d", len(n))}, web.Status()...)
		for _, k := range []string{"tls", "acme.ca", "acme.email", "acme.challenges"} {
			lines = append(lines, strings.ReplaceAll(k, ".", "_")+" "+certs.Setting(ctx, k))
		}
		return []byte(strings.Join(lines, "\n") + "\n"), nil
	})
	root.Err()
	return tr
}
