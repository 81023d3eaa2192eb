package section

import (
	"errors"
	"fmt"
	"io/fs"
)

// Classes of failure that kinds and package mirror report, wrapped with %w
// where the failure happens. Package mirror exports the same values.
var (
	// ErrIntegrity: the archive is damaged, foreign or incomplete.
	ErrIntegrity = errors.New("archive integrity")
	// ErrPrerequisites: the destination or a previous stage lacks content
	// this run needs.
	ErrPrerequisites = errors.New("missing prerequisites")
	// ErrImagesFailed: some images could not be copied; the others were.
	ErrImagesFailed = errors.New("some images failed")
	// ErrUsage: invalid arguments or configuration.
	ErrUsage = errors.New("usage")
)

// Classed wraps err in class, keeping err's own class too (errors.Is finds
// both), except for a local file error (a *fs.PathError: a mistyped path, a
// disk that fails), which is returned as it is: its class is local I/O,
// whatever the caller was doing.
func Classed(class, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%w: %w", class, err)
}

// Classedf is [Classed] with context: "class: context: err", or "context:
// err" for a local file error.
func Classedf(class, err error, format string, args ...any) error {
	ctx := fmt.Sprintf(format, args...)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", ctx, err)
	}
	return fmt.Errorf("%w: %s: %w", class, ctx, err)
}
