//go:build unix

package archive

import (
	"os"
	"syscall"
)

// oNoFollow refuses to open a symbolic link in place of a volume, a lock
// or a signature file.
const oNoFollow = syscall.O_NOFOLLOW

var errWouldBlock = syscall.EWOULDBLOCK

// lockFile takes an exclusive advisory lock on f without waiting; the
// kernel releases it if the process dies.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}

func unlockFile(f *os.File) { syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
