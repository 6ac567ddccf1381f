package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fazt-sh/fazt/api"
)

func newSecurityCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "security",
		Short: "Who may reach this fazt remotely: root password, tokens, login",
		Long: `The remote API serves the tree over HTTPS to clients with a token. These
commands read and write /security: root-pass (write-only), tokens/ (rm revokes),
mint (makes tokens), ctl (rotate), status.`,
	}
	rootPass := &cobra.Command{
		Use:   "root-pass",
		Short: "Set the root password (prompted, or read from standard input)",
		Long: `Set the root password, which fazt security login trades for a token. It is
asked twice without echo on a terminal, or read as the first line of standard
input (for scripts). At least 12 characters. Only its argon2id hash is kept.`,
		Args: args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			pw, err := readPassword(c, "New root password: ", true)
			if err != nil {
				return err
			}
			return withTree(c.Context(), g, func(t tree) error {
				return writeFile(c.Context(), t, "/security/root-pass", []byte(pw+"\n"))
			})
		},
	}
	var name, ttl string
	var scopes []string
	tokenNew := &cobra.Command{
		Use:   "new --name NAME --scope SCOPE [--scope SCOPE...] [--ttl 30d]",
		Short: "Mint a token (printed once, never again)",
		Long: `Mint a token for a script, a CI job or a laptop. SCOPE is read:PATH or
write:PATH (write includes read) in the tree: write:/fs/blog may deploy the blog
and nothing else; write:/ may do everything. The token is printed once; keep it
in your CI's secrets. Revoke it with fazt security token rm ID.`,
		Example: "  fazt security token new --name ci --scope write:/fs/blog --ttl 90d",
		Args:    args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			if name == "" || len(scopes) == 0 {
				return usageError{fmt.Errorf("--name and --scope are required")}
			}
			req := fmt.Sprintf("%s %s %s\n", name, ttl, strings.Join(scopes, " "))
			return withTree(c.Context(), g, func(t tree) error {
				out, err := t.Call(c.Context(), "/security/mint", []byte(req))
				if err != nil {
					return err
				}
				_, err = c.OutOrStdout().Write(out)
				return err
			})
		},
	}
	tokenNew.Flags().StringVar(&name, "name", "", "what the token is for (ci, laptop)")
	tokenNew.Flags().StringArrayVar(&scopes, "scope", nil, "read:PATH or write:PATH; repeatable")
	tokenNew.Flags().StringVar(&ttl, "ttl", "30d", "how long it is valid: 30d, 12h (at most 366d)")
	token := &cobra.Command{Use: "token", Short: "Tokens: new, ls, rm"}
	token.AddCommand(tokenNew,
		&cobra.Command{
			Use:   "ls",
			Short: "List the tokens: ID NAME SCOPES EXPIRES LAST-USED",
			Args:  args(0, 0),
			RunE: func(c *cobra.Command, _ []string) error {
				return withTree(c.Context(), g, func(t tree) error {
					infos, err := t.ReadDir(c.Context(), "/security/tokens")
					if err != nil {
						return err
					}
					for _, fi := range infos {
						b, err := readFile(c.Context(), t, path.Join("/security/tokens", fi.Name()))
						if err != nil {
							return err
						}
						kv := map[string]string{}
						for _, line := range strings.Split(string(b), "\n") {
							k, v, _ := strings.Cut(line, " ")
							kv[k] = v
						}
						fmt.Fprintf(c.OutOrStdout(), "%s %s %s %s %s\n", fi.Name(), kv["name"], strings.ReplaceAll(kv["scopes"], " ", ","), kv["expires"], kv["last_used"])
					}
					return nil
				})
			},
		},
		&cobra.Command{
			Use:   "rm ID...",
			Short: "Revoke tokens, at once",
			Args:  args(1, -1),
			RunE: func(c *cobra.Command, a []string) error {
				return withTree(c.Context(), g, func(t tree) error {
					for _, id := range a {
						if err := t.Remove(c.Context(), path.Join("/security/tokens", id), false); err != nil {
							return err
						}
					}
					return nil
				})
			},
		})
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the signing key: every token stops working (writes rotate to /security/ctl)",
		Args:  args(0, 0),
		RunE: func(c *cobra.Command, _ []string) error {
			return withTree(c.Context(), g, func(t tree) error {
				return writeFile(c.Context(), t, "/security/ctl", []byte("rotate\n"))
			})
		},
	}
	login := &cobra.Command{
		Use:   "login URL",
		Short: "Log in to a remote fazt with its root password; later commands use --remote URL",
		Long: `Trade the root password of the fazt at URL (https://admin.example.com, the host
routed to @api) for a token valid 30 days, saved 0600 in ~/.config/fazt/remotes.json.
Then fazt --remote URL ... (or FAZT_REMOTE=URL) works there as it does here.`,
		Args: args(1, 1),
		RunE: func(c *cobra.Command, a []string) error {
			base, err := normalURL(a[0])
			if err != nil {
				return err
			}
			pw, err := readPassword(c, "Root password of "+base+": ", false)
			if err != nil {
				return err
			}
			ans, err := api.Remote(base, "", nil).Login(c.Context(), pw)
			if err != nil {
				return err
			}
			p, err := saveRemote(base, ans.Token)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "fazt: logged in to %s until %s (token %s, saved in %s)\n", base, ans.Expires.Format("2006-01-02"), ans.ID, p)
			return nil
		},
	}
	c.AddCommand(rootPass, token, rotate, login,
		catCmd(g, "status", "/security/status", "Print /security/status: root password set, tokens, failed logins"))
	return c
}

// readPassword asks for a password without echo on a terminal (twice, if
// confirm), or reads the first line of standard input.
func readPassword(c *cobra.Command, prompt string, confirm bool) (string, error) {
	in, ok := c.InOrStdin().(*os.File)
	if ok && term.IsTerminal(int(in.Fd())) {
		fmt.Fprint(c.ErrOrStderr(), prompt)
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(c.ErrOrStderr())
		if err != nil {
			return "", err
		}
		if confirm {
			fmt.Fprint(c.ErrOrStderr(), "Again: ")
			b2, err := term.ReadPassword(int(in.Fd()))
			fmt.Fprintln(c.ErrOrStderr())
			if err != nil {
				return "", err
			}
			if string(b) != string(b2) {
				return "", fmt.Errorf("the passwords differ")
			}
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(c.InOrStdin()).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("no password on standard input")
	}
	return line, nil
}
