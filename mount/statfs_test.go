package mount

import "syscall"

type syscallStatfs = syscall.Statfs_t

func statfs(p string, st *syscall.Statfs_t) error { return syscall.Statfs(p, st) }
