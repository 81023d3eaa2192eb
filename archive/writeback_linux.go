package archive

import (
	"os"
	"syscall"
)

// startWriteback starts writing n bytes of f at off to disk without waiting
// for them (sync_file_range SYNC_FILE_RANGE_WRITE). It is a hint: durability
// still comes from the Sync in Close, and errors are left to it.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2 // SYNC_FILE_RANGE_WRITE
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		syscall.SyncFileRange(int(fd), off, n, syncFileRangeWrite)
	})
}
