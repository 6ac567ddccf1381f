package litestream

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fazt-sh/fazt/ctl"
	"github.com/fazt-sh/fazt/kernel"
)

// AddFiles adds the driver's files to d (/driver): litestream/ with the
// replicas, the credentials, the retention, the lease's TTL and the
// child's status.
func (d *Driver) AddFiles(dir ctl.Dir) {
	ls := dir.Dir("litestream")
	ls.Collection("replicas", d)
	creds := ls.Dir("credentials")
	for name := range Secrets {
		creds.Value(name, ctl.Value{Set: func(ctx context.Context, v string) error { return d.SetSecret(ctx, name, v) }})
	}
	ls.Value("retention", ctl.Value{Get: d.Retention, Set: d.SetRetention,
		Changed: func(ctx context.Context) (time.Time, error) { return d.opt.DB.SettingTime(ctx, retentionKey) }})
	ls.Value("lease_ttl", ctl.Value{Get: d.LeaseTTL, Set: d.SetLeaseTTL,
		Changed: func(ctx context.Context) (time.Time, error) { return d.opt.DB.SettingTime(ctx, leaseTTLKey) }})
	ls.Value("follow", ctl.Value{Set: d.Follow})
	ls.Status("status", d.Status)
	ls.Err()
}

// AddStorageFiles adds the backups' files to dir (/storage): the backup
// verb of ctl, backups/ (the window and the snapshots the replica holds),
// the last backup's outcome in status.
func (d *Driver) AddStorageFiles(dir ctl.Dir, ev *kernel.Events) {
	outcomes := ctl.NewOutcomes(ev, "storage")
	dir.Ctl("ctl", []ctl.Command{
		{Verb: "backup", Help: "send every change to the replica and snapshot it there; returns once it is durable",
			Run: outcomes.Run("backup", func(ctx context.Context) error {
				_, err := d.Backup(ctx)
				return err
			})},
	})
	backups := dir.Dir("backups")
	backups.Status("window", func(ctx context.Context) ([]byte, error) {
		b, err := d.Backups(ctx)
		if kernel.KindOf(err) == kernel.NotSupported {
			return []byte("replica none\n"), nil
		}
		if err != nil {
			return nil, err
		}
		if b.MaxTXID == 0 {
			return []byte("backups 0\n"), nil
		}
		return []byte(fmt.Sprintf("from %s\nto %s\nmin_txid %d\nmax_txid %d\nsnapshots %d\n",
			stampMS(b.From), stampMS(b.To), b.MinTXID, b.MaxTXID, len(b.Snapshots))), nil
	})
	backups.Status("snapshots", func(ctx context.Context) ([]byte, error) {
		b, err := d.Backups(ctx)
		if kernel.KindOf(err) == kernel.NotSupported {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var out strings.Builder
		for _, sn := range b.Snapshots {
			fmt.Fprintf(&out, "%s txid %d size %d\n", stampMS(sn.Created), sn.TXID, sn.Size)
		}
		return []byte(out.String()), nil
	})
	dir.Status("status", func(context.Context) ([]byte, error) { return []byte(outcomes.Lines("backup")), nil })
	dir.Err()
}

// stampMS is a backup's time as /storage/backups shows it, to the
// millisecond (snapshots of one second are told apart).
func stampMS(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
