package httpd

import (
	"context"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/ctl"
)

// AddFiles adds the listeners' files to d (/net): http and https, the
// addresses; their state in status.
func (s *Server) AddFiles(d ctl.Dir) {
	// Moving a listener moves where ACME challenges are answered too.
	moved := func(set func(context.Context, string) error) func(context.Context, string) error {
		return func(ctx context.Context, addr string) error {
			if err := set(ctx, addr); err != nil {
				return err
			}
			if s.tls == nil {
				return nil
			}
			return s.tls.Reconfigure(ctx)
		}
	}
	changed := func(sc scheme) func(context.Context) (time.Time, error) {
		return func(ctx context.Context) (time.Time, error) { return s.settings.SettingTime(ctx, schemes[sc].setting) }
	}
	d.Value("http", ctl.Value{Get: s.HTTPAddr, Set: moved(s.SetHTTPAddr), Changed: changed(schemeHTTP)})
	d.Value("https", ctl.Value{Get: s.HTTPSAddr, Set: moved(s.SetHTTPSAddr), Changed: changed(schemeHTTPS)})
	d.Status("status", func(context.Context) ([]byte, error) {
		return []byte(strings.Join(s.Status(), "\n") + "\n"), nil
	})
	d.Err()
}
