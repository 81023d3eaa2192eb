package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/internal/progress"
	"github.com/enclave-mirror/enclave/mirror/operators"
)

// Inspect prints what an archive holds: identity, volumes, images,
// prerequisites, sizes, and the operator catalogs with their packages and
// channels. Only the final volume's index and manifest are
// read, plus every volume's header and footer.
func Inspect(w io.Writer, dir string) error {
	r, problems, err := archive.OpenForInspection(dir)
	if err != nil {
		return classed(ErrIntegrity, err)
	}
	defer r.Close()
	m := r.Manifest()
	var blobs int
	var raw, stored int64
	r.Format().Blobs(func(b format.Blob) bool {
		blobs++
		raw += b.Size
		for _, c := range r.Format().Chunks(b) {
			stored += int64(c.StoredSize)
		}
		return true
	})
	fmt.Fprintf(w, "archive   %s\n", dir)
	fmt.Fprintf(w, "id        %s\n", r.ID())
	fmt.Fprintf(w, "digest    %s\n", r.Digest())
	fmt.Fprintf(w, "created   %s\n", m.Created.Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(w, "lineage   %s  sequence %d\n", m.Lineage, m.Sequence)
	fmt.Fprintf(w, "content   %d blobs, %s (%s stored)\n", blobs, progress.HumanBytes(raw), progress.HumanBytes(stored))
	fmt.Fprintf(w, "volumes   %d\n", len(r.Volumes()))
	for _, v := range r.Volumes() {
		fmt.Fprintf(w, "  %s  %s\n", archive.VolumeName(v.Number), progress.HumanBytes(v.Size))
	}
	fmt.Fprintf(w, "images\n")
	roots, attached := splitAttached(m.Roots)
	listed := make([]bool, len(attached))
	for _, root := range roots {
		refs := strings.Join(root.References, ", ")
		if refs == "" {
			refs = "(referrer)"
		}
		fmt.Fprintf(w, "  %s  %s  %s\n", refs, root.Descriptor.Digest, root.Descriptor.MediaType)
		printPlatforms(w, r, root)
		if len(root.References) > 0 && len(attached) > 0 {
			printAttached(w, r, root, attached, listed)
		}
	}
	for i, a := range attached {
		if !listed[i] {
			fmt.Fprintf(w, "  %s  %s  %s (%s of %s)\n", a.ref(), a.desc.Digest, a.desc.MediaType, cosignKind(a.tag), a.subject)
		}
	}
	if d := m.Delta; d != nil {
		var pb int64
		for _, p := range d.Prerequisites {
			pb += p.Size
		}
		fmt.Fprintf(w, "delta     %d prerequisites, %s the destination must already hold\n", len(d.Prerequisites), progress.HumanBytes(pb))
		for _, b := range d.Bases {
			id := b.Archive
			if id == "" {
				id = string(b.Digest)
			}
			fmt.Fprintf(w, "  cut against %s %s (lineage %s, sequence %d)\n", b.Kind, id, b.Lineage, b.Sequence)
		}
	} else {
		fmt.Fprintf(w, "delta     none (a full archive)\n")
	}
	for _, a := range m.Attachments {
		fmt.Fprintf(w, "attached  %s  %s  %s\n", a.Name, a.MediaType, progress.HumanBytes(a.Size))
	}
	cats, catErr := operators.Catalogs(context.Background(), r)
	printCatalogs(w, cats)
	if catErr != nil {
		fmt.Fprintf(w, "PROBLEM   %v\n", catErr)
	}
	if problems != nil {
		// What is listed above comes from the final volume; the others
		// cannot all be read.
		var ve *archive.VolumeError
		if errors.As(problems, &ve) {
			for _, p := range ve.Problems {
				fmt.Fprintf(w, "PROBLEM   %s\n", p)
			}
		}
		return fmt.Errorf("%w: the archive in %s is incomplete or inconsistent: %w", ErrIntegrity, dir, problems)
	}
	return catErr
}

// printPlatforms prints, for an index root, the platforms of the manifests
// the archive holds and of those it omits on purpose (a sparse copy):
// "    platforms linux/amd64 (omitted: linux/arm64)". The index is read
// from its volume; when that volume cannot be read, only the omitted ones
// are known.
func printPlatforms(w io.Writer, r *archive.Reader, root format.Root) {
	if !isIndexType(root.Descriptor.MediaType) {
		return
	}
	omitted := platformNames(root.Omitted)
	held := "(index unreadable)"
	if ok, _ := r.Exists(context.Background(), root.Descriptor); !ok {
		held = "(a prerequisite)"
	} else if kept, err := r.Successors(context.Background(), root.Descriptor); err == nil {
		held = strings.Join(platformNames(kept), ", ")
	}
	if held == "" && len(omitted) == 0 {
		return // an index of artifacts, not of platforms
	}
	if len(omitted) > 0 {
		fmt.Fprintf(w, "    platforms %s (omitted: %s)\n", held, strings.Join(omitted, ", "))
	} else {
		fmt.Fprintf(w, "    platforms %s\n", held)
	}
}

// printCatalogs prints each operator catalog: its reference as
// configured, the filtered catalog's digest, then one line a package with
// its default channel and its channels' heads.
func printCatalogs(w io.Writer, cats []operators.Catalog) {
	for _, c := range cats {
		fmt.Fprintf(w, "catalog   %s  filtered %s\n", c.Catalog, c.Filtered)
		for _, p := range c.Packages {
			var chans []string
			for _, ch := range p.Channels() {
				chans = append(chans, ch+" (head "+p.Heads[ch]+")")
			}
			fmt.Fprintf(w, "  %s  default %s  channels %s\n", p.Name, p.DefaultChannel, strings.Join(chans, ", "))
		}
	}
}

// Verify reads every byte of the archive in dir and prints what it found;
// it returns an ErrIntegrity error when anything is wrong.
func Verify(ctx context.Context, w io.Writer, dir string, keys []string) error {
	var sig *archive.SignatureResult
	if len(keys) > 0 {
		// The signature first, against the final volume: the full read
		// below reports every problem of the others.
		sr, res, err := openArchive(dir, keys, archive.WithIndexOnly())
		if err != nil {
			return err
		}
		sr.Close()
		sig = res
	}
	rep, r, err := archive.VerifyContext(ctx, dir)
	if ctx.Err() != nil {
		return err
	}
	if err != nil {
		return classed(ErrIntegrity, err)
	}
	defer r.Close()
	if sig != nil {
		if r.Digest() != sig.Statement.ArchiveDigest {
			return fmt.Errorf("%w: the archive changed while it was verified (digest %s, signed %s)", archive.ErrBadSignature, r.Digest(), sig.Statement.ArchiveDigest)
		}
		fmt.Fprintf(w, "signature by %s: good\n", sig.KeyID)
	}
	fmt.Fprintf(w, "archive %s (%s)\n", r.ID(), r.Digest())
	fmt.Fprintf(w, "read %d volumes, verified %d blobs, %s (%s stored)\n", rep.Volumes, rep.Blobs, progress.HumanBytes(rep.Bytes), progress.HumanBytes(rep.StoredBytes))
	if rep.Unreferenced > 0 {
		fmt.Fprintf(w, "note: %s of chunks no blob uses (writes that were abandoned)\n", progress.HumanBytes(rep.Unreferenced))
	}
	if rep.OK() {
		fmt.Fprintf(w, "OK\n")
		return nil
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "PROBLEM %v\n", p)
	}
	if rep.Damaged > 0 {
		fmt.Fprintf(w, "%s of chunks belong to the damaged blobs after the damage (not verified)\n", progress.HumanBytes(rep.Damaged))
	}
	if len(rep.MissingBlobs) > 0 {
		fmt.Fprintf(w, "%d blobs could not be verified:\n", len(rep.MissingBlobs))
		for _, d := range rep.MissingBlobs {
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	if len(rep.BadVolumes) > 0 {
		var names []string
		for _, n := range rep.BadVolumes {
			names = append(names, fmt.Sprintf("%s (volume %d)", format.VolumeFileName(n), n))
		}
		fmt.Fprintf(w, "copy again: %s\n", strings.Join(names, ", "))
	}
	if err := readError(rep.Problems); err != nil {
		return fmt.Errorf("cannot read every byte of %s (%d problems): %w", dir, len(rep.Problems), err)
	}
	return fmt.Errorf("%w: %d problems in %s", ErrIntegrity, len(rep.Problems), dir)
}
