//go:build !(linux || darwin)

package progress

import "os"

// fileWidth is unknown on this platform: the live line is not truncated.
func fileWidth(*os.File) int { return 0 }
