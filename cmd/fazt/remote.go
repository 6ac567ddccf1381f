package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/fazt-sh/fazt/api"
)

// remotesFile keeps the tokens of fazt security login, by URL: 0600 in
// the user's configuration directory.
func remotesFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "fazt", "remotes.json"), nil
}

func loadRemotes() (map[string]string, error) {
	p, err := remotesFile()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, nil
}

func saveRemote(base, token string) (string, error) {
	m, err := loadRemotes()
	if err != nil {
		return "", err
	}
	m[base] = token
	p, _ := remotesFile()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// normalURL checks a remote's URL and returns it as the key of its token.
func normalURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", usageError{fmt.Errorf("bad remote %q: want https://HOST", raw)}
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), nil
}

// remoteClient is a client of the remote at raw with its token: $FAZT_TOKEN,
// else the one saved by fazt security login.
func remoteClient(raw string) (*api.Client, error) {
	base, err := normalURL(raw)
	if err != nil {
		return nil, err
	}
	token := os.Getenv("FAZT_TOKEN")
	if token == "" {
		m, err := loadRemotes()
		if err != nil {
			return nil, err
		}
		token = m[base]
	}
	if token == "" {
		return nil, fmt.Errorf("no token for %s: run fazt security login %s, or set FAZT_TOKEN", base, base)
	}
	return api.Remote(base, token, nil), nil
}
