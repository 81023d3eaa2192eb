package section

import "errors"

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
