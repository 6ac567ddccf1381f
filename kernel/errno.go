package kernel

import (
	"net/http"
	"syscall"
)

// errnos maps each Kind to the errno a FUSE caller sees. It is the only such
// table in fazt.
var errnos = [...]syscall.Errno{
	Internal:     syscall.EIO,
	NotExist:     syscall.ENOENT,
	Exist:        syscall.EEXIST,
	Invalid:      syscall.EINVAL,
	NotDir:       syscall.ENOTDIR,
	IsDir:        syscall.EISDIR,
	NotEmpty:     syscall.ENOTEMPTY,
	Permission:   syscall.EACCES,
	NotPermitted: syscall.EPERM,
	Busy:         syscall.EBUSY,
	NoSpace:      syscall.ENOSPC,
	NameTooLong:  syscall.ENAMETOOLONG,
	Loop:         syscall.ELOOP,
	CrossDevice:  syscall.EXDEV,
	ReadOnly:     syscall.EROFS,
	TooLarge:     syscall.EFBIG,
	NotSupported: syscall.ENOTSUP,
	Interrupted:  syscall.EINTR,
	Unavailable:  syscall.EAGAIN,
	NoData:       syscall.ENXIO,
	NoAttr:       syscall.ENODATA,
	NotPrimary:   syscall.EROFS,
}

// Errno is the errno for errors of kind k; EIO for anything unknown.
func (k Kind) Errno() syscall.Errno {
	if int(k) < len(errnos) && errnos[k] != 0 {
		return errnos[k]
	}
	return syscall.EIO
}

// httpStatuses maps each Kind to the HTTP status a remote caller sees. It is
// the only such table in fazt. A path the caller may not see is answered
// NotExist by the layer that checks access, so it reads as 404 here.
var httpStatuses = [...]int{
	Internal:     http.StatusInternalServerError,
	NotExist:     http.StatusNotFound,
	Exist:        http.StatusConflict,
	Invalid:      http.StatusBadRequest,
	NotDir:       http.StatusConflict,
	IsDir:        http.StatusConflict,
	NotEmpty:     http.StatusConflict,
	Permission:   http.StatusForbidden,
	NotPermitted: http.StatusForbidden,
	Busy:         http.StatusConflict,
	NoSpace:      http.StatusInsufficientStorage,
	NameTooLong:  http.StatusBadRequest,
	Loop:         http.StatusBadRequest,
	CrossDevice:  http.StatusBadRequest,
	ReadOnly:     http.StatusMethodNotAllowed,
	TooLarge:     http.StatusRequestEntityTooLarge,
	NotSupported: http.StatusNotImplemented,
	Interrupted:  http.StatusServiceUnavailable,
	Unavailable:  http.StatusServiceUnavailable,
	NoData:       http.StatusRequestedRangeNotSatisfiable,
	NoAttr:       http.StatusNotFound,
	NotPrimary:   http.StatusConflict,
}

// HTTPStatus is the HTTP status for errors of kind k; 500 for anything
// unknown.
func (k Kind) HTTPStatus() int {
	if int(k) < len(httpStatuses) && httpStatuses[k] != 0 {
		return httpStatuses[k]
	}
	return http.StatusInternalServerError
}
