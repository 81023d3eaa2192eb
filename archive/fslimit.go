package archive

import (
	"fmt"
)

// File systems whose files stop short of what a volume may need.
const (
	msdosMagic = 0x4d44 // FAT12/16/32 (vfat): a file holds at most 4 GiB - 1 byte
	fat32Max   = 4<<30 - 1
)

// checkVolumeFits refuses, before any work, a volume size the output file
// system cannot hold: on FAT, a file stops at 4 GiB - 1 byte, and with no
// volume limit (0) a large archive would fail hours in.
func checkVolumeFits(dir string, fsType int64, volumeSize int64) error {
	if fsType == msdosMagic && (volumeSize == 0 || volumeSize > fat32Max) {
		size := "no volume limit"
		if volumeSize > 0 {
			size = fmt.Sprintf("volumes of %d bytes", volumeSize)
		}
		return fmt.Errorf("%w: %s is on a FAT file system, whose files stop at 4 GiB - 1 byte, but the pack would write %s; use --volume-size 4GiB-1MiB or less (the default fits)", ErrVolumeTooLarge, dir, size)
	}
	return nil
}
