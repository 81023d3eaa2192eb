package archive_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
)

// attachmentArchive hand-makes an archive whose n attachments all name
// one blob of size bytes.
func attachmentArchive(t *testing.T, n, size int) (*archive.Reader, []byte) {
	t.Helper()
	blob := archivetest.Blob(1, size, true)
	d := digest.FromBytes(blob)
	var m format.Manifest
	for i := range n {
		m.Attachments = append(m.Attachments, format.Attachment{Name: fmt.Sprintf("graph/%d.json", i), MediaType: "application/json", Digest: d, Size: int64(size)})
	}
	dir := filepath.Join(t.TempDir(), "a")
	if _, err := archivetest.HandMade(dir, [][]byte{blob}, m); err != nil {
		t.Fatal(err)
	}
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, blob
}

func TestAttachmentsDeclaredTotal(t *testing.T) {
	r, _ := attachmentArchive(t, 10, 1000)
	if _, err := r.Attachments(archive.AttachmentLimits{Bytes: 9999}); !errors.Is(err, format.ErrLimit) || !strings.Contains(err.Error(), "more than 9999 bytes") {
		t.Fatalf("10 names of 1000 bytes under 9999: err = %v", err)
	}
	if _, err := r.Attachments(archive.AttachmentLimits{Count: 9}); !errors.Is(err, format.ErrLimit) || !strings.Contains(err.Error(), "10 attachments, limit 9") {
		t.Fatalf("10 names under a count of 9: err = %v", err)
	}
	if _, err := r.Attachments(archive.AttachmentLimits{Bytes: 10000, Count: 10}); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
}

func TestAttachmentsReadsCounted(t *testing.T) {
	r, blob := attachmentArchive(t, 2, 1000)
	at, err := r.Attachments(archive.AttachmentLimits{Bytes: 2500})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	list := r.Manifest().Attachments
	if _, err := at.Read(ctx, list[0], 999); !errors.Is(err, format.ErrLimit) {
		t.Fatalf("over its own limit: err = %v", err)
	}
	for i := range 2 {
		got, err := at.Read(ctx, list[i], 1000)
		if err != nil || string(got) != string(blob) {
			t.Fatalf("read %d: %d bytes, %v", i, len(got), err)
		}
	}
	// The same name again: the third 1000 bytes pass 2500.
	if _, err := at.Read(ctx, list[0], 1000); !errors.Is(err, format.ErrLimit) || !strings.Contains(err.Error(), "would add up to more than 2500 bytes") {
		t.Fatalf("third read: err = %v", err)
	}
}
