// Package layering holds the test that keeps the folder list honest: which
// package may import which (see layering_test.go). It has no code.
package layering
