package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// serveLoopback is go-fuse's example/loopback with the same options, and a
// switch to disable passthrough.
func serveLoopback(args []string) {
	fl := flag.NewFlagSet("loopback", flag.ExitOnError)
	nopt := fl.Bool("nopassthrough", false, "disable kernel passthrough of file data")
	fl.Parse(args)
	if fl.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: fsbench loopback [-nopassthrough] ORIG MNT")
		os.Exit(2)
	}
	root, err := fs.NewLoopbackRoot(fl.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sec := time.Second
	opts := &fs.Options{
		AttrTimeout:     &sec,
		EntryTimeout:    &sec,
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			DirectMount: true,
			FsName:      fl.Arg(0),
			Name:        "loopback",
		},
	}
	if *nopt {
		opts.MountOptions.DisabledCapabilities = fuse.CAP_PASSTHROUGH
	}
	server, err := fs.Mount(fl.Arg(1), root, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("Mounted!")
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-c
		server.Unmount()
	}()
	server.Wait()
}
