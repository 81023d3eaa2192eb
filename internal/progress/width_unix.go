//go:build linux || darwin

package progress

import (
	"os"
	"syscall"
	"unsafe"
)

// fileWidth asks the terminal behind f for its width (TIOCGWINSZ); 0 if f is
// not a terminal. It goes through SyscallConn, not Fd, so f keeps its
// non-blocking mode and deadlines.
func fileWidth(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	var ws struct{ row, col, xpixel, ypixel uint16 }
	var errno syscall.Errno
	err = rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws)))
	})
	if err != nil || errno != 0 {
		return 0
	}
	return int(ws.col)
}
