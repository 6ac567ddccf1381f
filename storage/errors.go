package storage

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"syscall"

	"github.com/fazt-sh/fazt/kernel"
	"github.com/mattn/go-sqlite3"
)

// classify turns an error from database/sql or SQLite into a *kernel.Error.
// It is the only place in fazt that looks at SQLite error codes.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ke *kernel.Error
	if errors.As(err, &ke) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return kernel.Wrap(kernel.NotExist, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return kernel.Wrap(kernel.Interrupted, err)
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrConstraint:
			switch se.ExtendedCode {
			case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
				return kernel.Wrap(kernel.Exist, err)
			case sqlite3.ErrConstraintNotNull, sqlite3.ErrConstraintCheck:
				return kernel.Wrap(kernel.Invalid, err)
			}
			return kernel.Wrap(kernel.Exist, err)
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return kernel.Wrap(kernel.Busy, err)
		case sqlite3.ErrFull:
			return kernel.Wrap(kernel.NoSpace, err)
		case sqlite3.ErrReadonly:
			return kernel.Wrap(kernel.ReadOnly, err)
		case sqlite3.ErrTooBig:
			return kernel.Wrap(kernel.TooLarge, err)
		case sqlite3.ErrInterrupt:
			return kernel.Wrap(kernel.Interrupted, err)
		}
	}
	return kernel.Wrap(kernel.Internal, err)
}

// classifyFile classifies an error of a file the storage keeps beside the
// database (the machine's settings).
func classifyFile(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return kernel.Wrap(kernel.NoSpace, err)
	case errors.Is(err, syscall.EROFS):
		return kernel.Wrap(kernel.ReadOnly, err)
	case errors.Is(err, fs.ErrPermission):
		return kernel.Wrap(kernel.Permission, err)
	}
	return kernel.Wrap(kernel.Internal, err)
}
