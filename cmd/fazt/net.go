package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/spf13/cobra"
)

func newNetCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "net",
		Short: "Routes, listeners, TLS and certificates",
		Long: `Routes live in /net/routes/: one file per host name, whose value is the target:
  SITE            the site in /fs/SITE
  redirect URL    a redirect to URL
  proxy URL       a reverse proxy to URL
Listeners are /net/http and /net/https; TLS and ACME are commands of /net/ctl;
certificates are in /net/certs/HOST/. These commands read and write those files.`,
	}
	route := &cobra.Command{Use: "route", Short: "Add, remove and list routes"}
	route.AddCommand(
		&cobra.Command{
			Use:   "add HOST TARGET",
			Short: "Route HOST to TARGET (writes /net/routes/HOST)",
			Example: "  fazt net route add blog.example.com blog\n" +
				"  fazt net route add www.example.com redirect https://example.com/\n" +
				"  fazt net route add app.example.com proxy http://127.0.0.1:3000",
			Args: args(2, 3),
			RunE: func(c *cobra.Command, a []string) error {
				return eachPath(c.Context(), g, []string{path.Join("/net/routes", a[0])}, func(t tree, p string) error {
					if err := writeFile(c.Context(), t, p, []byte(strings.Join(a[1:], " ")+"\n")); err != nil {
						return err
					}
					// Accepted (the site may be deployed next), but said.
					if len(a) == 2 && !strings.HasPrefix(a[1], "@") {
						if _, err := t.Stat(c.Context(), "/fs/"+a[1]); err != nil {
							fmt.Fprintf(c.ErrOrStderr(), "fazt: WARNING: no site %s yet (/fs/%s): %s answers 404 until it is deployed\n", a[1], a[1], a[0])
						}
					}
					return nil
				})
			},
		},
		&cobra.Command{
			Use:   "rm HOST...",
			Short: "Remove routes (removes /net/routes/HOST)",
			Args:  args(1, -1),
			RunE: func(c *cobra.Command, a []string) error {
				paths := make([]string, len(a))
				for i, h := range a {
					paths[i] = path.Join("/net/routes", h)
				}
				return eachPath(c.Context(), g, paths, func(t tree, p string) error {
					return t.Remove(c.Context(), p, false)
				})
			},
		},
		&cobra.Command{
			Use:   "ls",
			Short: "List routes: HOST TARGET, one per line",
			Args:  args(0, 0),
			RunE: func(c *cobra.Command, _ []string) error {
				return withTree(c.Context(), g, func(t tree) error {
					infos, err := t.ReadDir(c.Context(), "/net/routes")
					if err != nil {
						return err
					}
					for _, fi := range infos {
						b, err := readFile(c.Context(), t, path.Join("/net/routes", fi.Name()))
						if errors.Is(err, fs.ErrNotExist) {
							continue // removed meanwhile
						}
						if err != nil {
							return err
						}
						fmt.Fprintf(c.OutOrStdout(), "%s %s", fi.Name(), b)
					}
					return nil
				})
			},
		},
	)
	c.AddCommand(route, newCertCmd(g), newTLSCmd(g), newACMECmd(g),
		statusCmd(g, "/net/status", "Routes, listeners and TLS at a glance (/net/status)",
			`Say whether the network side is healthy, and what needs attention. --raw prints the "key value" lines of /net/status, -o json an object of them.`,
			netSummary),
		valueCmd(g, "http [ADDR]", "/net/http", "where HTTP listens: host:port, :port or off"),
		valueCmd(g, "https [ADDR]", "/net/https", "where HTTPS listens: host:port, :port or off"))
	return c
}

// netCtl writes one command line to /net/ctl.
func netCtl(g *globals, line string) func(c *cobra.Command) error {
	return func(c *cobra.Command) error {
		return withTree(c.Context(), g, func(t tree) error {
			return writeFile(c.Context(), t, "/net/ctl", []byte(line+"\n"))
		})
	}
}

// catCmd prints a file of the tree.
func catCmd(g *globals, use, p, short string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			return withTree(c.Context(), g, func(t tree) error {
				b, err := readFile(c.Context(), t, p)
				if err == nil {
					_, err = c.OutOrStdout().Write(b)
				}
				return err
			})
		},
	}
}

// statusCmd prints the status file p for people (summarize), or as it is
// (--raw, -o json).
func statusCmd(g *globals, p, short, long string, summarize func(map[string]string) summary) *cobra.Command {
	var f statusFlags
	c := &cobra.Command{
		Use: "status", Short: short, Long: long, Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			return withTree(c.Context(), g, func(t tree) error {
				b, err := readFile(c.Context(), t, p)
				if err != nil {
					return err
				}
				return f.print(c.OutOrStdout(), b, summarize)
			})
		},
	}
	f.add(c)
	return c
}

// valueCmd prints a value file, or writes it.
func valueCmd(g *globals, use, p, what string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: "Print or set " + what + " (" + p + ")",
		Args:  args(0, 1),
		RunE: func(c *cobra.Command, a []string) error {
			return withTree(c.Context(), g, func(t tree) error {
				if len(a) == 1 {
					return writeFile(c.Context(), t, p, []byte(a[0]+"\n"))
				}
				b, err := readFile(c.Context(), t, p)
				if err == nil {
					_, err = c.OutOrStdout().Write(b)
				}
				return err
			})
		},
	}
}

func newTLSCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tls on|off",
		Short: "Turn automatic HTTPS on or off (writes tls on|off to /net/ctl)",
		Long: `With TLS on, fazt obtains a certificate over ACME for every routed host name
(exact names: not wildcards), renews it ahead of expiry, serves HTTPS, and
redirects plain HTTP requests of hosts that have a certificate to HTTPS.
Point the names' DNS at this machine first, and let ports 80 and 443 reach it.`,
		Args:      cobra.MatchAll(args(1, 1), cobra.OnlyValidArgs),
		ValidArgs: []string{"on", "off"},
		RunE:      func(c *cobra.Command, a []string) error { return netCtl(g, "tls "+a[0])(c) },
	}
}

func newACMECmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "acme", Short: "The ACME account: directory, contact, challenge types"}
	set := func(use, verb, short string) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short + " (writes acme " + verb + " to /net/ctl)", Args: args(1, 1),
			RunE: func(c *cobra.Command, a []string) error { return netCtl(g, "acme "+verb+" "+a[0])(c) },
		}
	}
	c.AddCommand(
		set("ca URL", "ca", "Use the ACME directory URL (Let's Encrypt's production by default)"),
		set("email ADDR", "email", "Set the account's contact address, for expiry warnings"),
		set("challenges LIST", "challenges", "Answer http-01, tls-alpn-01 or all"),
	)
	return c
}

func newCertCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "cert", Short: "Certificates: list, renew"}
	c.AddCommand(
		&cobra.Command{
			Use:   "ls",
			Short: "List certificates: HOST NOT_AFTER LAST_ERROR, one per line",
			Long: `List the hosts in /net/certs/ with the expiry of their certificate ("-" while
there is none) and the last error obtaining it ("-" for none).`,
			Args: args(0, 0),
			RunE: func(c *cobra.Command, _ []string) error {
				return withTree(c.Context(), g, func(t tree) error {
					infos, err := t.ReadDir(c.Context(), "/net/certs")
					if err != nil {
						return err
					}
					for _, fi := range infos {
						b, err := readFile(c.Context(), t, path.Join("/net/certs", fi.Name(), "status"))
						if errors.Is(err, fs.ErrNotExist) {
							continue
						}
						if err != nil {
							return err
						}
						kv := map[string]string{"not_after": "-", "last_error": "-"}
						for _, line := range strings.Split(string(b), "\n") {
							if k, v, ok := strings.Cut(line, " "); ok {
								kv[k] = v
							}
						}
						fmt.Fprintf(c.OutOrStdout(), "%s %s %s\n", fi.Name(), kv["not_after"], kv["last_error"])
					}
					return nil
				})
			},
		},
		&cobra.Command{
			Use:   "renew HOST...",
			Short: "Obtain or renew the certificates of HOSTs now (writes cert renew HOST to /net/ctl)",
			Long: `Obtain or renew each HOST's certificate now, waiting for the CA. Needs a running
kernel with TLS on; fazt renews by itself ahead of expiry, so this is for
after a change of CA or a revoked certificate.`,
			Args: args(1, -1),
			RunE: func(c *cobra.Command, a []string) error {
				for _, h := range a {
					if err := netCtl(g, "cert renew "+h)(c); err != nil {
						return err
					}
				}
				return nil
			},
		},
	)
	return c
}
