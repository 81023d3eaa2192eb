package archive

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"syscall"
)

// Volume file names: volume-0001.enclave, volume-0002.enclave, ... (four
// digits at least, more past 9999). While a pack runs they are written under
// a hidden temporary name and renamed when the archive is complete, the final
// volume last, so that an interrupted pack never looks complete.
const (
	volumePrefix = "volume-"
	volumeSuffix = ".enclave"
	partialExt   = ".partial"
	lockName     = ".enclave.lock"
)

var volumeNameRE = regexp.MustCompile(`^volume-([0-9]{4,})\.enclave$`)

// VolumeName returns the file name of volume n.
func VolumeName(n uint32) string { return fmt.Sprintf("%s%04d%s", volumePrefix, n, volumeSuffix) }

func partialName(n uint32) string { return "." + VolumeName(n) + partialExt }

// volumeFile is a volume found in a directory.
type volumeFile struct {
	number uint32
	name   string
	size   int64
}

// listVolumes returns the volume files of dir by number, and the names of
// files that look like volumes but are not well named (volume-1.enclave).
func listVolumes(dir string) (vols []volumeFile, odd []string, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		name := e.Name()
		m := volumeNameRE.FindStringSubmatch(name)
		if m == nil {
			if filepath.Ext(name) == volumeSuffix {
				odd = append(odd, name)
			}
			continue
		}
		n, err := strconv.ParseUint(m[1], 10, 32)
		if err != nil || n == 0 || VolumeName(uint32(n)) != name {
			odd = append(odd, name)
			continue
		}
		if !e.Type().IsRegular() {
			return nil, nil, fmt.Errorf("archive: %s is not a regular file", filepath.Join(dir, name))
		}
		info, err := e.Info()
		if err != nil {
			return nil, nil, err
		}
		vols = append(vols, volumeFile{number: uint32(n), name: name, size: info.Size()})
	}
	sort.Slice(vols, func(i, j int) bool { return vols[i].number < vols[j].number })
	return vols, odd, nil
}

// dirLock holds an exclusive, advisory lock on a directory's lock file, so
// two packs cannot write the same archive. The kernel releases it if the
// process dies.
type dirLock struct{ f *os.File }

var errLocked = errors.New("archive: another enclave process is using this directory")

func lockDir(dir string) (*dirLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR|oNoFollow, 0o644)
	if err != nil {
		return nil, fmt.Errorf("archive: lock %s: %w", dir, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, fmt.Errorf("%w: %s (wait for it to finish, or stop it)", errLocked, dir)
		}
		return nil, fmt.Errorf("archive: lock %s: %w", dir, err)
	}
	return &dirLock{f: f}, nil
}

func (l *dirLock) unlock() {
	if l != nil && l.f != nil {
		unlockFile(l.f)
		l.f.Close()
		l.f = nil
	}
}

// fileVolume is a volume being written: a temporary file synced and closed
// when the format writer finishes it.
type fileVolume struct {
	f    *os.File
	path string
	err  error
	// written bytes, of which the first flushed were handed to writeback.
	written, flushed int64
}

// writebackEvery is how many bytes a volume collects before they are handed
// to the kernel's writeback, so that the sync of Close finds little left to
// write instead of the whole volume.
const writebackEvery = 32 << 20

func (v *fileVolume) Write(p []byte) (int, error) {
	n, err := v.f.Write(p)
	v.written += int64(n)
	if v.written-v.flushed >= writebackEvery {
		startWriteback(v.f, v.flushed, v.written-v.flushed)
		v.flushed = v.written
	}
	if err != nil {
		v.err = err
		if errors.Is(err, syscall.ENOSPC) {
			err = fmt.Errorf("archive: %s: disk full: %w", v.path, err)
		} else {
			err = fmt.Errorf("archive: write %s: %w", v.path, err)
		}
	}
	return n, err
}

func (v *fileVolume) Close() error {
	if err := v.f.Sync(); err != nil {
		v.f.Close()
		return fmt.Errorf("archive: sync %s: %w", v.path, err)
	}
	if err := v.f.Close(); err != nil {
		return fmt.Errorf("archive: close %s: %w", v.path, err)
	}
	return nil
}

// dirVolumes serves an archive directory's volumes to readers, opening each
// file once.
type dirVolumes struct {
	dir   string
	files map[uint32]*os.File
	reads func(volume uint32, off, n int64) // WithVolumeReads, or nil
}

func (d *dirVolumes) Volume(n uint32) (io.ReaderAt, error) {
	if f, ok := d.files[n]; ok {
		if d.reads != nil {
			return readAtCounter{f, n, d.reads}, nil
		}
		return f, nil
	}
	return nil, fmt.Errorf("archive: %s is missing", filepath.Join(d.dir, VolumeName(n)))
}

func (d *dirVolumes) close() {
	for _, f := range d.files {
		f.Close()
	}
}

// readAtCounter tells fn the size of every read (WithVolumeReads).
type readAtCounter struct {
	r      io.ReaderAt
	volume uint32
	fn     func(volume uint32, off, n int64)
}

func (c readAtCounter) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if n > 0 {
		c.fn(c.volume, off, int64(n))
	}
	return n, err
}
