package archivetest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/format"
)

// HandMade writes a one-volume archive into dir straight through package
// format, without the checks archive.Create makes of what it packs: the
// archive a hostile or buggy writer could make, for tests of what readers
// do with one. Every blob is stored as given; m names the roots (its
// MediaType, Archive and Created are filled in). It returns the archive id.
func HandMade(dir string, blobs [][]byte, m format.Manifest) (string, error) {
	var id format.ArchiveID
	if _, err := rand.Read(id[:]); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	w, err := format.NewWriter(dirSink(dir), format.WriterOptions{Archive: id})
	if err != nil {
		return "", err
	}
	for _, b := range blobs {
		d := digest.FromBytes(b)
		if w.Has(d) {
			continue
		}
		bw, err := w.Blob(d, int64(len(b)))
		if err != nil {
			return "", err
		}
		if _, err := bw.ReadFrom(bytes.NewReader(b)); err != nil {
			return "", err
		}
		if err := bw.Commit(); err != nil {
			return "", err
		}
	}
	m.MediaType, m.Archive, m.Created = format.ManifestMediaType, id.String(), time.Now().UTC().Truncate(time.Second)
	if err := w.Close(&m); err != nil {
		return "", err
	}
	return id.String(), nil
}

// dirSink creates volume files as archive.VolumeName names them (this
// package cannot import archive: archive's tests import it).
type dirSink string

func (d dirSink) CreateVolume(n uint32) (io.WriteCloser, error) {
	return os.Create(filepath.Join(string(d), fmt.Sprintf("volume-%04d.enclave", n)))
}
