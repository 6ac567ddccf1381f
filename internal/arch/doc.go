// Package arch holds the tests that keep fazt's architecture: which package
// may import which, and that every package documents its design in doc.go.
package arch
