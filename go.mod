module github.com/fazt-sh/fazt

go 1.26.8

require github.com/mattn/go-sqlite3 v1.14.53

require (
	github.com/hanwen/go-fuse/v2 v2.12.1 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
