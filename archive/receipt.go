package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/fsutil"
)

// ReceiptMediaType identifies a receipt document (spec/RECEIPT.md).
const ReceiptMediaType = "application/vnd.enclave.receipt.v1+json"

// maxReceiptSize bounds a receipt file: about a million entries.
const maxReceiptSize = 256 << 20

// Receipt states what a destination holds: content verified present there,
// by repository, and the archives applied to it. It travels back up the chain
// so the next archive is cut against what the receiver really has.
type Receipt struct {
	MediaType   string    `json:"mediaType"`
	Created     time.Time `json:"created"`
	Destination string    `json:"destination"`
	// Archives are the archives applied to the destination, oldest first.
	Archives []AppliedArchive `json:"archives,omitempty"`
	// Content lists digests verified present, each with the repositories
	// (relative to the destination) that hold it.
	Content []ReceiptEntry `json:"content"`
}

// AppliedArchive records one archive pushed to the destination.
type AppliedArchive struct {
	Archive  string        `json:"archiveID"`
	Digest   digest.Digest `json:"digest"`
	Lineage  string        `json:"lineage,omitempty"`
	Sequence uint64        `json:"sequence,omitempty"`
	Applied  time.Time     `json:"applied"`
}

// ReceiptEntry is one digest present at the destination.
type ReceiptEntry struct {
	Digest       digest.Digest `json:"digest"`
	Size         int64         `json:"size"`
	MediaType    string        `json:"mediaType,omitempty"`
	Repositories []string      `json:"repositories,omitempty"`
	// Omitted are, for an image index pushed without some of the
	// manifests it lists (a sparse copy, FORMAT.md 7.3.1), those
	// manifests: the destination does not hold them.
	Omitted []digest.Digest `json:"omitted,omitempty"`
}

// Add records that repo holds d; for an index pushed without some of its
// children, omitted names them. The destination lacks a child only while
// every push of d left it out: adding d again keeps only the children
// both pushes omitted.
func (r *Receipt) Add(d digest.Digest, size int64, mediaType, repo string, omitted ...digest.Digest) {
	for i := range r.Content {
		e := &r.Content[i]
		if e.Digest == d {
			if repo != "" && !slices.Contains(e.Repositories, repo) {
				e.Repositories = append(e.Repositories, repo)
			}
			e.Omitted = slices.DeleteFunc(e.Omitted, func(o digest.Digest) bool { return !slices.Contains(omitted, o) })
			if len(e.Omitted) == 0 {
				e.Omitted = nil
			}
			return
		}
	}
	e := ReceiptEntry{Digest: d, Size: size, MediaType: mediaType, Omitted: slices.Clone(omitted)}
	if repo != "" {
		e.Repositories = []string{repo}
	}
	r.Content = append(r.Content, e)
}

// normalize sorts entries and repositories so the same content gives the
// same bytes.
func (r *Receipt) normalize() {
	r.MediaType = ReceiptMediaType
	slices.SortFunc(r.Content, func(a, b ReceiptEntry) int { return compareStrings(string(a.Digest), string(b.Digest)) })
	for i := range r.Content {
		slices.Sort(r.Content[i].Repositories)
		r.Content[i].Repositories = slices.Compact(r.Content[i].Repositories)
		slices.Sort(r.Content[i].Omitted)
		r.Content[i].Omitted = slices.Compact(r.Content[i].Omitted)
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Encode returns the receipt's canonical JSON.
func (r *Receipt) Encode() ([]byte, error) {
	r.normalize()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("archive: encode receipt: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteReceipt writes r to path atomically and returns the receipt digest
// (SHA-256 of the file's bytes).
func WriteReceipt(path string, r *Receipt) (digest.Digest, error) {
	b, err := r.Encode()
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(path, b, 0o644); err != nil {
		return "", fmt.Errorf("archive: write receipt: %w", err)
	}
	return digest.FromBytes(b), nil
}

// LoadReceipt reads and validates a receipt file.
func LoadReceipt(path string) (*Receipt, digest.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("archive: receipt: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxReceiptSize+1))
	if err != nil {
		return nil, "", fmt.Errorf("archive: read receipt %s: %w", path, err)
	}
	if len(b) > maxReceiptSize {
		return nil, "", fmt.Errorf("archive: receipt %s is larger than %d bytes", path, maxReceiptSize)
	}
	r, err := DecodeReceipt(b)
	if err != nil {
		return nil, "", fmt.Errorf("archive: receipt %s: %w", path, err)
	}
	return r, digest.FromBytes(b), nil
}

// DecodeReceipt parses and validates a receipt document.
func DecodeReceipt(b []byte) (*Receipt, error) {
	var r Receipt
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("not a receipt (invalid JSON: %v)", err)
	}
	if r.MediaType != ReceiptMediaType {
		return nil, fmt.Errorf("mediaType %q, want %q", r.MediaType, ReceiptMediaType)
	}
	for i, e := range r.Content {
		if err := format.ValidateDigest(e.Digest); err != nil {
			return nil, fmt.Errorf("content %d: %w", i, err)
		}
		if e.Size < 0 {
			return nil, fmt.Errorf("content %s: negative size", e.Digest)
		}
		for _, o := range e.Omitted {
			if err := format.ValidateDigest(o); err != nil {
				return nil, fmt.Errorf("content %s: omitted: %w", e.Digest, err)
			}
		}
	}
	for i, a := range r.Archives {
		if _, err := format.ParseArchiveID(a.Archive); err != nil {
			return nil, fmt.Errorf("archive %d: %w", i, err)
		}
		if err := format.ValidateDigest(a.Digest); err != nil {
			return nil, fmt.Errorf("archive %d: %w", i, err)
		}
	}
	return &r, nil
}

// writeFileAtomic writes path atomically and durably.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := fsutil.WriteFileAtomic(path, data, perm); err != nil {
		return err
	}
	return fsutil.SyncDir(filepath.Dir(path))
}
