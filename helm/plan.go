package helm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sync/errgroup"

	"github.com/enclave-mirror/enclave/imageset"
	"github.com/enclave-mirror/enclave/ocistore"
)

// MaxValuesFileBytes bounds one values file of a configuration.
const MaxValuesFileBytes = 16 << 20

// PlanOptions are per-call parameters of [Plan]. The zero value plans
// HTTP and local charts with default settings; oci:// repositories need
// Client.
type PlanOptions struct {
	// Client reaches oci:// chart repositories.
	Client *ocistore.Client
	// HTTP are the settings of every HTTP repository; Repositories
	// completes them per repository URL.
	HTTP HTTPOptions
	// Repositories is helm's repositories.yaml (credentials, TLS), nil for
	// none.
	Repositories *RepositoriesFile
	// ConfigDir is the directory relative local paths and values files are
	// read from (the configuration file's directory); "" means the
	// working directory.
	ConfigDir string
	// KubeVersion, APIVersions and IncludeTests are passed to
	// [FindImages].
	KubeVersion  string
	APIVersions  []string
	IncludeTests bool
	// Keyring, when set, requires every chart to carry a provenance file
	// signed by one of its keys ([VerifyProvenance]).
	Keyring openpgp.EntityList
	// Limits bound input; see [Limits].
	Limits Limits
	// Concurrency bounds the charts fetched and rendered at once; 0 means
	// 4.
	Concurrency int
}

// PlannedChart is one chart of the configuration, resolved once: its
// version fixed, its bytes fetched, its images found.
type PlannedChart struct {
	// Repository is the configuration's repository name, empty for a local
	// chart; URL is the repository URL without credentials, or the local
	// path.
	Repository, URL string
	// Name is the chart name as configured (for a local chart, the
	// entry's name); Version is the configured version or range, "" for
	// the latest.
	Name, Version string
	// Line is the configuration line of the entry.
	Line int
	// Chart is the fetched chart (nil when Err is set before fetching).
	Chart *Chart
	// Destination is where the chart goes below the destination root.
	Destination imageset.Reference
	// Discovery lists its images and where they were found.
	Discovery *Discovery
	// Platforms is the configuration's platforms filter, which the caller
	// applies to the chart's multi-platform images; empty means all.
	Platforms []imageset.PlatformFilter
	// Err is why this chart failed; the other charts are planned all the
	// same.
	Err error
}

// Plan resolves every chart of mirror.helm: each repository's index is
// read once, each chart's version is resolved (see [SelectVersion]), its
// archive fetched and checked (digest, provenance when a keyring is
// given), and its images found with [FindImages] using the chart's values
// and imagePaths. A repository that lists no charts stands for the latest
// version of every chart of its index (oci:// repositories cannot be
// listed and must name their charts). A chart that fails is returned with
// Err set; the others go on. Two charts placed at one destination both
// fail with [ErrCollision]. Charts are returned in configuration order.
func Plan(ctx context.Context, h *imageset.Helm, opts PlanOptions) []PlannedChart {
	if h == nil {
		return nil
	}
	var out []PlannedChart
	type job struct {
		i    int
		run  func(p *PlannedChart)
		opts imageset.HelmChartOptions
	}
	var jobs []job
	for _, r := range h.Repositories {
		if strings.HasPrefix(r.URL, "oci://") {
			repo, err := NewOCIRepository(r.Name, r.URL, opts.Client, opts.Limits)
			if err == nil && opts.Client == nil {
				err = fmt.Errorf("%w: repository %q: an oci:// repository needs a registry client", ErrInvalid, r.Name)
			}
			if len(r.Charts) == 0 && err == nil {
				err = fmt.Errorf("%w: repository %q: an oci:// repository cannot be listed; name its charts", ErrInvalid, r.Name)
			}
			if err != nil {
				out = append(out, PlannedChart{Repository: r.Name, URL: redactString(r.URL), Line: r.Line, Err: err})
				continue
			}
			for _, ch := range r.Charts {
				out = append(out, PlannedChart{Repository: r.Name, URL: repo.URL(), Name: ch.Name, Version: ch.Version, Line: ch.Line, Platforms: ch.Platforms})
				name, version := ch.Name, ch.Version
				jobs = append(jobs, job{len(out) - 1, func(p *PlannedChart) { p.Chart, p.Err = repo.Pull(ctx, name, version) }, ch.HelmChartOptions})
			}
			continue
		}
		repo, err := NewRepository(r.Name, r.URL, opts.Repositories.Options(r.URL, opts.HTTP), opts.Limits)
		if err != nil {
			out = append(out, PlannedChart{Repository: r.Name, URL: redactString(r.URL), Line: r.Line, Err: err})
			continue
		}
		var names []string
		for _, ch := range r.Charts {
			names = append(names, ch.Name)
		}
		idx, err := repo.Index(ctx, names...)
		if err != nil {
			out = append(out, PlannedChart{Repository: r.Name, URL: repo.URL(), Line: r.Line, Err: err})
			continue
		}
		charts := r.Charts
		if len(charts) == 0 {
			for _, n := range idx.Names {
				charts = append(charts, imageset.HelmChart{Name: n, Line: r.Line})
			}
		}
		for _, ch := range charts {
			out = append(out, PlannedChart{Repository: r.Name, URL: repo.URL(), Name: ch.Name, Version: ch.Version, Line: ch.Line, Platforms: ch.Platforms})
			name, version := ch.Name, ch.Version
			jobs = append(jobs, job{len(out) - 1, func(p *PlannedChart) {
				cv, err := idx.Get(name, version)
				if err != nil {
					p.Err = fmt.Errorf("repository %q (%s): %w", repo.Name, repo.URL(), err)
					return
				}
				p.Chart, p.Err = repo.Fetch(ctx, cv)
			}, ch.HelmChartOptions})
		}
	}
	for _, l := range h.Local {
		out = append(out, PlannedChart{URL: l.Path, Name: l.Name, Line: l.Line, Platforms: l.Platforms})
		path := l.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(opts.ConfigDir, path)
		}
		jobs = append(jobs, job{len(out) - 1, func(p *PlannedChart) { p.Chart, p.Err = LoadLocal(path, opts.Limits) }, l.HelmChartOptions})
	}

	n := opts.Concurrency
	if n <= 0 {
		n = 4
	}
	var g errgroup.Group
	g.SetLimit(n)
	for _, j := range jobs {
		p := &out[j.i]
		g.Go(func() error {
			j.run(p)
			if p.Err == nil {
				p.Err = opts.finish(ctx, p, j.opts)
			}
			return nil
		})
	}
	_ = g.Wait()

	// Collisions between charts.
	seen := map[string]*PlannedChart{}
	for i := range out {
		p := &out[i]
		if p.Err != nil {
			continue
		}
		key := p.Destination.String()
		if prev, ok := seen[key]; ok && prev.Chart.Digest() != p.Chart.Digest() {
			err := fmt.Errorf("%w: %s (line %d) and %s (line %d) both go to %s", ErrCollision, prev.Chart.Source, prev.Line, p.Chart.Source, p.Line, key)
			prev.Err, p.Err = err, err
			continue
		}
		seen[key] = p
	}
	return out
}

// finish checks provenance, places the chart and finds its images.
func (opts PlanOptions) finish(ctx context.Context, p *PlannedChart, co imageset.HelmChartOptions) error {
	c := p.Chart
	if opts.Keyring != nil {
		if _, err := VerifyProvenance(c, opts.Keyring); err != nil {
			return err
		}
	}
	dst, err := ChartDestination(c)
	if err != nil {
		return err
	}
	p.Destination = dst
	var values []map[string]any
	for _, f := range co.ValuesFiles {
		v, err := readValuesFile(f, opts.ConfigDir)
		if err != nil {
			return fmt.Errorf("chart %s %s: %w", c.Name, c.Version, err)
		}
		values = append(values, v)
	}
	if co.Values != nil {
		values = append(values, normalize(co.Values).(map[string]any))
	}
	d, err := FindImages(ctx, c, RenderOptions{
		Values: values, KubeVersion: opts.KubeVersion, APIVersions: opts.APIVersions,
		ImagePaths: co.ImagePaths, IncludeTests: opts.IncludeTests, Limits: opts.Limits,
	})
	if err != nil {
		return err
	}
	p.Discovery = d
	return nil
}

// readValuesFile reads a YAML values file, relative to dir.
func readValuesFile(path, dir string) (map[string]any, error) {
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: values file: %v", ErrInvalid, err)
	}
	defer f.Close()
	data, err := readBounded(f, MaxValuesFileBytes, "values file "+path)
	if err != nil {
		return nil, err
	}
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%w: values file %s: %v", ErrInvalid, path, err)
	}
	if v == nil {
		v = map[string]any{}
	}
	return normalize(v).(map[string]any), nil
}
