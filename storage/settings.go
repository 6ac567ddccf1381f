package storage

import (
	"context"
	"strconv"
	"time"

	"github.com/fazt-sh/fazt/kernel"
)

// Setting returns a setting saved with PutSetting, or def if there is none.
func (db *DB) Setting(ctx context.Context, key, def string) (string, error) {
	var v string
	err := db.View(ctx, func(tx *Tx) error {
		return tx.QueryRow(`SELECT value FROM fazt_meta WHERE key = ?`, "setting."+key).Scan(&v)
	})
	if kernel.KindOf(err) == kernel.NotExist {
		return def, nil
	}
	return v, err
}

// Settings returns the settings whose keys start with prefix, by key
// without the prefix.
func (db *DB) Settings(ctx context.Context, prefix string) (map[string]string, error) {
	out := map[string]string{}
	err := db.View(ctx, func(tx *Tx) error {
		p := "setting." + prefix
		rows, err := tx.Query(`SELECT key, value FROM fazt_meta WHERE substr(key, 1, ?) = ?`, len(p), p)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			out[k[len(p):]] = v
		}
		return rows.Err()
	})
	return out, err
}

// DeleteSetting removes a setting; NotExist if there is none.
func (db *DB) DeleteSetting(ctx context.Context, key string) error {
	return db.Write(ctx, func(tx *Tx) error {
		res, err := tx.Exec(`DELETE FROM fazt_meta WHERE key = ?`, "setting."+key)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return kernel.E(kernel.NotExist, "no such setting")
		}
		_, err = tx.Exec(`DELETE FROM fazt_meta WHERE key = ?`, settingTimeKey(key))
		return err
	})
}

// PutSetting saves a setting (a key-value pair of the operator's choices,
// kept in the database so a backup holds it) and when it changed. Saving
// the value a setting has already changes nothing, its time included.
func (db *DB) PutSetting(ctx context.Context, key, value string) error {
	// A setting acknowledged is committed: a kernel killed right after
	// keeps it (it is fsynced at the next checkpoint or WriteSync).
	return db.WriteCommitted(ctx, func(tx *Tx) error {
		res, err := tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES (?, ?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value
			WHERE value IS NOT excluded.value`, "setting."+key, value)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.Exec(`INSERT INTO fazt_meta(key, value) VALUES (?, ?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
			settingTimeKey(key), strconv.FormatInt(time.Now().UnixNano(), 10))
		return err
	})
}

// SettingTime is when a setting last changed, or the zero time if it has
// never been set (or was set by a fazt that kept no times).
func (db *DB) SettingTime(ctx context.Context, key string) (time.Time, error) {
	var v string
	err := db.View(ctx, func(tx *Tx) error {
		return tx.QueryRow(`SELECT value FROM fazt_meta WHERE key = ?`, settingTimeKey(key)).Scan(&v)
	})
	if kernel.KindOf(err) == kernel.NotExist {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	ns, perr := strconv.ParseInt(v, 10, 64)
	if perr != nil {
		return time.Time{}, nil // not ours to fail on: the tree's own record stands
	}
	return time.Unix(0, ns), nil
}

// settingTimeKey keeps when a setting changed, in a row of its own beside
// the setting's rather than a column: a binary that predates it, or a
// database not yet migrated, reads and writes settings as before.
func settingTimeKey(key string) string { return "setting-time." + key }
