package kernel

import (
	"errors"
	"io/fs"
	"strings"
)

// Kind classifies an error. It is the only thing front ends look at to
// choose an errno or an HTTP status.
type Kind uint8

// The kinds of error. Internal is the zero value on purpose: an error that
// nobody classified is an internal one.
const (
	Internal     Kind = iota // unexpected: EIO, HTTP 500, logged
	NotExist                 // no such file or object
	Exist                    // already exists
	Invalid                  // bad syntax or value
	NotDir                   // a path component is not a directory
	IsDir                    // a directory where a file is required
	NotEmpty                 // directory not empty
	Permission               // access denied by mode bits or policy (EACCES)
	NotPermitted             // operation not permitted on this object (EPERM)
	Busy                     // in use, or the database is locked
	NoSpace                  // disk full
	NameTooLong              // a name over 255 bytes
	Loop                     // too many symbolic links
	CrossDevice              // rename or link across bound file systems
	ReadOnly                 // the object cannot be written
	TooLarge                 // input over a limit
	NotSupported             // the operation is not implemented here
	Interrupted              // the caller gave up
	Unavailable              // a needed part is not running
	NoData                   // no data from that offset on (SEEK_DATA at the end: ENXIO)
	NoAttr                   // no such extended attribute (ENODATA)
	NotPrimary               // replicated state written on a follower: EROFS, HTTP 409
)

var kindNames = [...]string{
	Internal:     "internal error",
	NotExist:     "no such file or directory",
	Exist:        "file exists",
	Invalid:      "invalid argument",
	NotDir:       "not a directory",
	IsDir:        "is a directory",
	NotEmpty:     "directory not empty",
	Permission:   "permission denied",
	NotPermitted: "operation not permitted",
	Busy:         "resource busy",
	NoSpace:      "no space left on device",
	NameTooLong:  "file name too long",
	Loop:         "too many levels of symbolic links",
	CrossDevice:  "cross-device link",
	ReadOnly:     "read-only file",
	TooLarge:     "input too large",
	NotSupported: "operation not supported",
	Interrupted:  "interrupted",
	Unavailable:  "unavailable",
	NoData:       "no such device or address",
	NoAttr:       "no data available",
	NotPrimary:   "read-only: a follower of the primary",
}

// kindIDs are the stable names of the kinds, for protocols (the APIs carry
// the kind of an error so a client can rebuild it).
var kindIDs = [...]string{
	Internal:     "internal",
	NotExist:     "not-exist",
	Exist:        "exist",
	Invalid:      "invalid",
	NotDir:       "not-dir",
	IsDir:        "is-dir",
	NotEmpty:     "not-empty",
	Permission:   "permission",
	NotPermitted: "not-permitted",
	Busy:         "busy",
	NoSpace:      "no-space",
	NameTooLong:  "name-too-long",
	Loop:         "loop",
	CrossDevice:  "cross-device",
	ReadOnly:     "read-only",
	TooLarge:     "too-large",
	NotSupported: "not-supported",
	Interrupted:  "interrupted",
	Unavailable:  "unavailable",
	NoData:       "no-data",
	NoAttr:       "no-attr",
	NotPrimary:   "not-primary",
}

// ID is the kind's stable name ("not-exist").
func (k Kind) ID() string {
	if int(k) < len(kindIDs) {
		return kindIDs[k]
	}
	return "internal"
}

// KindFromID returns the kind named id, and Internal for a name it does
// not know.
func KindFromID(id string) Kind {
	for k, name := range kindIDs {
		if name == id {
			return Kind(k)
		}
	}
	return Internal
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown error kind"
}

// Error is the one error type of fazt. Op and Path say what was attempted
// (they may be empty deep inside a subsystem and filled in at the syscall
// boundary); Kind classifies it; Err, if set, is the underlying cause or a
// human reason.
type Error struct {
	Op   string
	Path string
	Kind Kind
	Err  error
}

// E returns an error of the given kind whose reason is msg.
func E(kind Kind, msg string) *Error {
	return &Error{Kind: kind, Err: errors.New(msg)}
}

// Wrap classifies err as kind. It returns nil when err is nil.
func Wrap(kind Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Err: err}
}

// At adds the operation and path to err without changing its kind. An error
// that already names an operation or path is returned as it is; one that has
// no Kind yet becomes Internal.
func At(op, path string, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*Error); ok {
		if e.Op != "" || e.Path != "" {
			return err
		}
		return &Error{Op: op, Path: path, Kind: e.Kind, Err: e.Err}
	}
	return &Error{Op: op, Path: path, Kind: KindOf(err), Err: err}
}

func (e *Error) Error() string {
	prefix := strings.TrimSpace(e.Op + " " + e.Path)
	if prefix == "" {
		return e.Reason()
	}
	return prefix + ": " + e.Reason()
}

// Reason is the error text without operation and path: what a user reads in
// an err file.
func (e *Error) Reason() string {
	if e.Err == nil {
		return e.Kind.String()
	}
	var inner *Error
	if errors.As(e.Err, &inner) {
		return inner.Reason()
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, fs.ErrNotExist) and friends work for callers that
// use the io/fs vocabulary, the way syscall.Errno does.
func (e *Error) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.Kind == NotExist
	case fs.ErrExist:
		return e.Kind == Exist
	case fs.ErrInvalid:
		return e.Kind == Invalid
	case fs.ErrPermission:
		return e.Kind == Permission || e.Kind == NotPermitted
	}
	return false
}

// KindOf returns the kind of the outermost classified error in err's chain,
// and Internal for an error that nobody classified. It never guesses from
// the text or from wrapped standard library errors: an os.ErrNotExist met
// deep inside fazt is an internal failure, not "no such file".
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}
