package archive

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/enclave-mirror/enclave/format"
)

// DefaultVolumeSize fits FAT32, whose files stop at 4 GiB - 1 byte, with
// room to spare.
const DefaultVolumeSize = 4<<30 - 1<<20

// CreateOption configures Create: volume and chunk sizes, compression,
// bases, lineage, logging.
type CreateOption interface{ applyCreate(*options) error }

// OpenOption configures Open, Verify and VerifyContext: read limits, an
// index-only open, logging.
type OpenOption interface{ applyOpen(*options) error }

// createOption is an option of Create only.
type createOption func(*options) error

func (f createOption) applyCreate(o *options) error { return f(o) }

// openOption is an option of Open only.
type openOption func(*options) error

func (f openOption) applyOpen(o *options) error { return f(o) }

// sharedOption is an option of both.
type sharedOption func(*options) error

func (f sharedOption) applyCreate(o *options) error { return f(o) }
func (f sharedOption) applyOpen(o *options) error   { return f(o) }

type options struct {
	volumeSize  int64
	chunkSize   int
	compression int
	limits      format.Limits
	bases       []*Base
	basePaths   []string
	lineage     string
	sequence    uint64
	indexOnly   bool
	// report: Open returns a reader whose other volumes have problems,
	// with the problems (OpenForInspection).
	report bool
	logger *slog.Logger
	onRead func(n int64)
	// reads is called after every read of volume bytes (WithVolumeReads).
	reads func(volume uint32, off, n int64)
}

func defaultOptions() options {
	return options{volumeSize: DefaultVolumeSize, chunkSize: format.DefaultChunkSize, compression: format.CompressionDefault, logger: slog.New(slog.DiscardHandler)}
}

func createOptions(opts []CreateOption) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt.applyCreate(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

func openOptions(opts []OpenOption) (options, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt.applyOpen(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithVolumeSize sets the maximum size of a volume file (default
// DefaultVolumeSize; 0 means one volume of any size).
func WithVolumeSize(n int64) CreateOption {
	return createOption(func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: negative volume size %d", ErrInvalidOption, n)
		}
		o.volumeSize = n
		return nil
	})
}

// WithChunkSize sets the uncompressed chunk size (default 4 MiB, 64 KiB to
// 16 MiB). Memory while packing is about concurrency x 2 x chunk size.
func WithChunkSize(n int) CreateOption {
	return createOption(func(o *options) error {
		if n < format.MinChunkSize || n > format.MaxChunkSize {
			return fmt.Errorf("%w: chunk size %d outside %d..%d", ErrInvalidOption, n, format.MinChunkSize, format.MaxChunkSize)
		}
		o.chunkSize = n
		return nil
	})
}

// WithCompression sets the zstd level: format.CompressionFastest, Default,
// Better or Best.
func WithCompression(level int) CreateOption {
	return createOption(func(o *options) error {
		if level < format.CompressionFastest || level > format.CompressionBest {
			return fmt.Errorf("%w: compression level %d outside %d..%d", ErrInvalidOption, level, format.CompressionFastest, format.CompressionBest)
		}
		o.compression = level
		return nil
	})
}

// WithLimits sets the read limits (zero fields keep the format's).
func WithLimits(l format.Limits) OpenOption {
	return openOption(func(o *options) error { o.limits = l; return nil })
}

// WithBase cuts the archive against a base: a *Base from LoadBase, OpenBase
// or a receipt. Blobs a base holds are not packed; they become
// prerequisites.
func WithBase(b *Base) CreateOption {
	return createOption(func(o *options) error {
		if b == nil {
			return errors.New("archive: nil base")
		}
		o.bases = append(o.bases, b)
		return nil
	})
}

// WithBasePath is WithBase(LoadBase(path)): path is a receipt file or a
// previous archive's directory (its final volume is enough).
func WithBasePath(path string) CreateOption {
	return createOption(func(o *options) error { o.basePaths = append(o.basePaths, path); return nil })
}

// WithLineage sets the archive's lineage (32 hex digits) and sequence
// explicitly. By default a writer continues the lineage of its newest base
// with the next sequence number, or starts a new lineage at 1.
func WithLineage(lineage string, sequence uint64) CreateOption {
	return createOption(func(o *options) error {
		if _, err := format.ParseArchiveID(lineage); err != nil {
			return fmt.Errorf("%w: lineage: %w", ErrInvalidOption, err)
		}
		o.lineage, o.sequence = lineage, sequence
		return nil
	})
}

// WithIndexOnly opens an archive whose non-final volumes may be absent: the
// index and manifest are usable (as a base, for inspection) but blobs in
// missing volumes cannot be fetched.
func WithIndexOnly() OpenOption {
	return openOption(func(o *options) error { o.indexOnly = true; return nil })
}

// WithReadProgress has Verify call fn with the number of bytes of each read
// from a volume as it reads, from one goroutine, so that a long
// verification can show how far it is.
func WithReadProgress(fn func(n int64)) OpenOption {
	return openOption(func(o *options) error { o.onRead = fn; return nil })
}

// WithVolumeReads has fn called after every read of a volume's bytes, by
// Verify and by Fetch (not the footer, header and index Open reads), with
// the volume, the offset and the number of bytes read, from any goroutine.
// fn may block, which paces the reads: make bench counts what an unpack
// reads, and how far it seeks, and reads an archive at the rate of a USB
// disk this way.
func WithVolumeReads(fn func(volume uint32, off, n int64)) OpenOption {
	return openOption(func(o *options) error { o.reads = fn; return nil })
}

// WithLogger sets where the library logs (default: nowhere). It is an
// option of both Create and Open.
func WithLogger(l *slog.Logger) interface {
	CreateOption
	OpenOption
} {
	return sharedOption(func(o *options) error {
		if l != nil {
			o.logger = l
		}
		return nil
	})
}
