// Package arch holds the tests that keep fazt's architecture: which package
// may import which, that every package documents its design in doc.go, and
// that each top-level path of the tree is built by the package docs/tree.md
// names for it (a booted kernel's trees say who added each file).
package arch
