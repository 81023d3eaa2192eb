//go:build !linux

package archive

func fsTypeOf(string) int64 { return 0 }
