package imageset

import (
	"errors"
	"fmt"

	"github.com/enclave-mirror/enclave/ref"
)

// Sentinel errors. Errors returned by this package wrap one of them, so
// callers can sort failures with [errors.Is]; details are in the message and,
// for configuration files, in a [*ConfigError].
var (
	// ErrInvalidConfig: the configuration is malformed or fails validation.
	ErrInvalidConfig = errors.New("imageset: invalid configuration")
	// ErrUnknownField: the configuration names a field the schema lacks.
	// Errors wrapping it also wrap ErrInvalidConfig.
	ErrUnknownField = errors.New("imageset: unknown field")
	// ErrUnsupportedVersion: kind or apiVersion is not one this package reads.
	// Errors wrapping it also wrap ErrInvalidConfig.
	ErrUnsupportedVersion = errors.New("imageset: unsupported kind or apiVersion")
	// ErrInvalidReference: an image reference, repository path, tag or
	// digest does not parse.
	ErrInvalidReference = ref.ErrInvalid
	// ErrInvalidVersion: a version is not a semantic version.
	ErrInvalidVersion = errors.New("imageset: invalid version")
	// ErrNotImplemented: the configuration uses a section this version of
	// enclave cannot plan yet (see [PlanOptions.Allow]).
	ErrNotImplemented = errors.New("imageset: not implemented")
	// ErrConflict: two entries of a plan would write the same destination.
	ErrConflict = errors.New("imageset: conflicting mappings")
)

// ConfigError is one problem at a place in a configuration file. [Load]
// returns every problem it finds, joined with [errors.Join]; use [errors.As]
// to get the first, or walk the joined error for all of them.
type ConfigError struct {
	// File is the name given to [Load] ("isc.yaml"), possibly empty.
	File string
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
	// Path is the YAML path of the offending node ("mirror.operators[0].catalog"),
	// empty for the document itself.
	Path string
	// Msg says what is wrong, without position.
	Msg string
	// Err is the sentinel (or underlying error) the problem wraps.
	Err error
}

// Error formats the problem as "imageset: file:line: message".
func (e *ConfigError) Error() string {
	pos := e.File
	if pos == "" {
		pos = "<config>"
	}
	if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d", pos, e.Line)
	}
	return "imageset: " + pos + ": " + e.Msg
}

// Unwrap returns the wrapped sentinel and ErrInvalidConfig, except for
// [ErrNotImplemented], which describes a valid file.
func (e *ConfigError) Unwrap() []error {
	switch e.Err {
	case nil, ErrInvalidConfig:
		return []error{ErrInvalidConfig}
	case ErrNotImplemented:
		return []error{e.Err} // a valid file this version cannot act on
	}
	return []error{e.Err, ErrInvalidConfig}
}
