package mirror

import (
	"context"
	"errors"
	"io/fs"
	"syscall"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/format"
	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/mirror/section"
	"github.com/enclave-mirror/enclave/ocistore"
	"github.com/enclave-mirror/enclave/ref"
)

// Exit codes, documented in the README and kept stable.
const (
	ExitOK          = 0
	ExitFailure     = 1   // some images failed; anything not classified below
	ExitUsage       = 2   // bad flags, bad configuration, bad references
	ExitIntegrity   = 3   // damaged, foreign, unsigned or incomplete archive; missing prerequisites
	ExitRegistry    = 4   // registry or network: unreachable, auth, TLS, refused pushes
	ExitLocalIO     = 5   // local files: disk full, permissions, read errors, output directory in use
	ExitInterrupted = 130 // interrupted (Ctrl-C)
)

// Errors that classify a run's failure: the values of package section, so
// that the kinds of content report the same classes.
var (
	// ErrIntegrity: the archive is damaged, foreign or incomplete.
	ErrIntegrity = section.ErrIntegrity
	// ErrPrerequisites: the destination lacks content the archive leaves out.
	ErrPrerequisites = section.ErrPrerequisites
	// ErrImagesFailed: some images could not be copied; the others were.
	ErrImagesFailed = section.ErrImagesFailed
	// ErrUsage: invalid arguments.
	ErrUsage = section.ErrUsage
)

// Errors of sparse copies (an additionalImages entry with platforms:).
var (
	// ErrNoPlatform: a multi-platform index has none of the platforms asked.
	ErrNoPlatform = errors.New("mirror: no manifest for the platforms asked")
	// ErrSparseRefused: the destination registry refused an index whose
	// children are partly absent (it requires every platform's manifest).
	ErrSparseRefused = errors.New("mirror: the destination refused a sparse index")
)

// ExitCode maps an error to the documented exit codes.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, ErrUsage), errors.Is(err, imageset.ErrInvalidConfig), errors.Is(err, imageset.ErrNotImplemented),
		errors.Is(err, ref.ErrInvalid), errors.Is(err, archive.ErrInvalidOption), errors.Is(err, archive.ErrKey),
		errors.Is(err, imageset.ErrInvalidReference), errors.Is(err, ocistore.ErrInvalidReference), errors.Is(err, ocistore.ErrInvalidConfig):
		return ExitUsage
	case errors.Is(err, ErrIntegrity), errors.Is(err, ErrPrerequisites), errors.Is(err, archive.ErrUnsigned),
		errors.Is(err, archive.ErrUntrustedKey), errors.Is(err, archive.ErrBadSignature), errors.Is(err, archive.ErrRollback),
		errors.Is(err, archive.ErrGraphTooDeep), format.IsIntegrity(err):
		return ExitIntegrity
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EROFS), errors.Is(err, fs.ErrPermission), errors.Is(err, archive.ErrExists), errors.Is(err, archive.ErrVolumeTooLarge),
		errors.Is(err, archive.ErrLocked):
		return ExitLocalIO
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return ExitLocalIO // a local file: an OCI layout, a key, a config
	}
	switch ocistore.Classify(err) {
	case ocistore.KindAuth, ocistore.KindTLS, ocistore.KindNetwork, ocistore.KindRegistry, ocistore.KindNotFound:
		return ExitRegistry
	case ocistore.KindInvalid:
		return ExitUsage
	}
	return ExitFailure
}

// readError returns the first of a verify report's problems that is a
// failure to read a local file (EIO from a failing disk or medium, a
// directory in place of a volume), or nil. Such a report is incomplete
// rather than proof of damage: the run failed on local I/O (exit 5), and
// the same volumes may verify once they can be read (copied again, read
// from another drive).
func readError(problems []error) error {
	for _, p := range problems {
		var pe *fs.PathError
		if errors.As(p, &pe) && pe.Op == "read" {
			return p
		}
	}
	return nil
}

// classed is section.Classed: err in class, unless err is a local file
// error.
func classed(class, err error) error { return section.Classed(class, err) }
