package archive

// ErrLocked: Create was pointed at a directory that another enclave process
// (a pack still running) holds the lock of. Nothing was written.
var ErrLocked = errLocked
