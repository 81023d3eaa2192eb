//go:build windows

package archive

import (
	"os"

	"golang.org/x/sys/windows"
)

// oNoFollow: Windows has no O_NOFOLLOW. A symbolic link in an archive
// directory is followed there (creating one needs a privilege Windows does
// not grant by default).
const oNoFollow = 0

var errWouldBlock = windows.ERROR_LOCK_VIOLATION

// lockFile takes an exclusive lock on f without waiting (LockFileEx); the
// system releases it when the process dies.
func lockFile(f *os.File) error {
	ol := new(windows.Overlapped)
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
}

func unlockFile(f *os.File) {
	ol := new(windows.Overlapped)
	windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
}
