package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ManifestMediaType identifies the archive manifest document.
const ManifestMediaType = "application/vnd.enclave.archive.manifest.v1+json"

// Manifest says what an archive carries and what it deliberately leaves out.
// It is stored as JSON in the final volume; its SHA-256 is in the index, so
// the archive digest commits to it.
type Manifest struct {
	MediaType string `json:"mediaType"`
	// Archive is the id of the archive (32 hex digits), equal to the one in
	// every volume.
	Archive string `json:"archiveID"`
	// Created is when the archive was written (informative).
	Created time.Time `json:"created"`
	// Lineage names a series of archives cut one against another (32 hex
	// digits); Sequence orders them. A receiver refuses an archive whose
	// sequence is not above the last one it applied from the same lineage
	// unless told otherwise (rollback protection).
	Lineage  string `json:"lineage,omitempty"`
	Sequence uint64 `json:"sequence"`
	// Roots are the images and artifacts packed, each with the references
	// it was packed from (for example "quay.io/org/app:1.2").
	Roots []Root `json:"roots"`
	// Delta describes what the archive leaves out because the receiving
	// side already has it. Nil for a full archive.
	Delta *Delta `json:"delta,omitempty"`
	// Attachments are named blobs that are not OCI content but travel with
	// it: update graphs, signatures. Each names a blob in the index.
	Attachments []Attachment `json:"attachments,omitempty"`
	// Annotations are free-form.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Root is one packed image or artifact.
type Root struct {
	Descriptor ocispec.Descriptor `json:"descriptor"`
	References []string           `json:"references,omitempty"`
	// Omitted are children of the root's image index left out on purpose
	// (a sparse copy: only some platforms); they are neither in the
	// archive nor prerequisites, and the index is carried unchanged. See
	// spec 7.3.1.
	Omitted []ocispec.Descriptor `json:"omitted,omitempty"`
}

// Delta lists the archive's prerequisites and what it was cut against.
type Delta struct {
	// Prerequisites are every descriptor reachable from the roots that the
	// archive does not contain. The receiving side must already hold them;
	// a reader checks that before it writes anything.
	Prerequisites []Prerequisite `json:"prerequisites"`
	// Bases are what the archive was cut against.
	Bases []Base `json:"bases"`
}

// Prerequisite is content the archive refers to but leaves out.
type Prerequisite struct {
	ocispec.Descriptor
	// ProvidedBy names the base that holds it: "archive:<id>" or
	// "receipt:<digest>".
	ProvidedBy string `json:"providedBy,omitempty"`
}

// Base is an archive or a receipt an archive was cut against.
type Base struct {
	Kind    string        `json:"kind"` // "archive" or "receipt"
	Archive string        `json:"archiveID,omitempty"`
	Digest  digest.Digest `json:"digest"` // archive digest or receipt digest
	// Lineage and Sequence of a base archive, or of the last archive a
	// receipt records, if known.
	Lineage  string `json:"lineage,omitempty"`
	Sequence uint64 `json:"sequence,omitempty"`
}

// Attachment is a named blob carried beside the OCI content.
type Attachment struct {
	Name      string        `json:"name"`
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

// EncodeManifest returns the canonical JSON of m.
func EncodeManifest(m *Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("format: encode manifest: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// DecodeManifest parses and validates a manifest document. Unknown fields are
// ignored (they are optional by definition; required changes use features).
// What JSON parsers read differently is refused first (checkManifestJSON):
// invalid UTF-8, duplicated members, member names in another case.
func DecodeManifest(b []byte) (*Manifest, error) {
	if err := checkManifestJSON(b); err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest JSON: %v", ErrMalformed, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *Manifest) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: manifest: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	if m.MediaType != ManifestMediaType {
		return bad("mediaType %q, want %q", truncate(m.MediaType, 80), ManifestMediaType)
	}
	if _, err := ParseArchiveID(m.Archive); err != nil {
		return bad("archiveID: %v", err)
	}
	if m.Lineage != "" {
		if _, err := ParseArchiveID(m.Lineage); err != nil {
			return bad("lineage: %v", err)
		}
	}
	checkDesc := func(what string, d ocispec.Descriptor) error {
		if err := ValidateDigest(d.Digest); err != nil {
			return bad("%s: %v", what, err)
		}
		if d.Size < 0 {
			return bad("%s %s: negative size %d", what, d.Digest, d.Size)
		}
		return nil
	}
	for i, r := range m.Roots {
		if err := checkDesc(fmt.Sprintf("root %d", i), r.Descriptor); err != nil {
			return err
		}
	}
	if err := checkOmitted(m, nil); err != nil {
		return err
	}
	if m.Delta != nil {
		seen := make(map[digest.Digest]bool, len(m.Delta.Prerequisites))
		for i, p := range m.Delta.Prerequisites {
			if err := checkDesc(fmt.Sprintf("prerequisite %d", i), p.Descriptor); err != nil {
				return err
			}
			if seen[p.Digest] {
				return bad("prerequisite %s listed twice", p.Digest)
			}
			seen[p.Digest] = true
		}
		for i, b := range m.Delta.Bases {
			if b.Kind != "archive" && b.Kind != "receipt" {
				return bad("base %d: kind %q", i, truncate(b.Kind, 40))
			}
			if err := ValidateDigest(b.Digest); err != nil {
				return bad("base %d: %v", i, err)
			}
			for _, id := range []string{b.Archive, b.Lineage} {
				if id != "" {
					if _, err := ParseArchiveID(id); err != nil {
						return bad("base %d: %v", i, err)
					}
				}
			}
		}
	}
	names := make(map[string]bool, len(m.Attachments))
	for i, a := range m.Attachments {
		if a.Name == "" || names[a.Name] {
			return bad("attachment %d: empty or duplicate name %q", i, truncate(a.Name, 80))
		}
		names[a.Name] = true
		if err := ValidateDigest(a.Digest); err != nil {
			return bad("attachment %q: %v", a.Name, err)
		}
		if a.Size < 0 {
			return bad("attachment %q: negative size", a.Name)
		}
	}
	return nil
}
