package archive

import "syscall"

// fsTypeOf returns the file system type (statfs f_type) of dir, 0 if unknown.
func fsTypeOf(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return int64(st.Type)
}
