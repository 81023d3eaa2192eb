package helm

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

// PackageEpoch is the modification time given to every file of a chart
// directory packaged by [LoadLocal], and the created time of its artifact,
// so that packaging the same directory twice gives the same bytes.
var PackageEpoch = time.Unix(0, 0).UTC()

// LoadLocal reads a chart from disk. A file is taken as a packaged chart
// (.tgz) byte for byte; a directory is packaged as helm package does
// (.helmignore honoured, dependencies under charts/ included) with every
// timestamp set to [PackageEpoch], so the archive and its digest depend on
// the directory's content only. Errors wrap [ErrChart] or [ErrTooLarge].
func LoadLocal(path string, limits Limits) (*Chart, error) {
	limits = limits.withDefaults()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: local chart %s: %v", ErrChart, path, err)
	}
	if !fi.IsDir() {
		if fi.Size() > limits.MaxChartBytes {
			return nil, fmt.Errorf("%w: local chart %s is %d bytes, over the limit of %d", ErrTooLarge, path, fi.Size(), limits.MaxChartBytes)
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w: local chart %s: %v", ErrChart, path, err)
		}
		defer f.Close()
		archive, err := readBounded(f, limits.MaxChartBytes, "local chart "+path)
		if err != nil {
			return nil, err
		}
		c, err := newChart(archive, SourceLocal, path, "")
		if err != nil {
			return nil, err
		}
		c.Created = chartYAMLTime(archive)
		return c, nil
	}
	ch, err := loader.LoadDir(path)
	if err != nil {
		return nil, fmt.Errorf("%w: local chart %s: %v", ErrChart, path, err)
	}
	ch.StampModTimes(PackageEpoch)
	tmp, err := os.MkdirTemp("", "enclave-helm-package-")
	if err != nil {
		return nil, fmt.Errorf("local chart %s: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	file, err := chartutil.Save(ch, tmp)
	if err != nil {
		return nil, fmt.Errorf("%w: local chart %s: package: %v", ErrChart, path, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("local chart %s: %w", path, err)
	}
	defer f.Close()
	archive, err := readBounded(f, limits.MaxChartBytes, "packaged local chart "+path)
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(path)
	c, err := newChart(archive, SourceLocal, abs, "")
	if err != nil {
		return nil, err
	}
	c.Created = PackageEpoch
	return c, nil
}
