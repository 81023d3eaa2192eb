package archive

import (
	"strings"
	"testing"
)

func TestCheckVolumeFits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fsType  int64
		size    int64
		wantErr string
	}{
		{"fat default size", msdosMagic, DefaultVolumeSize, ""},
		{"fat exactly 4 GiB - 1", msdosMagic, fat32Max, ""},
		{"fat 4 GiB", msdosMagic, 4 << 30, "FAT file system"},
		{"fat unlimited", msdosMagic, 0, "no volume limit"},
		{"ext4 unlimited", 0xef53, 0, ""},
		{"unknown 8 GiB", 0, 8 << 30, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkVolumeFits("/media/usb", tc.fsType, tc.size)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
