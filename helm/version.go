package helm

import (
	"fmt"
	"slices"

	"github.com/Masterminds/semver/v3"
)

// SelectVersion picks from versions the one helm pull would: with want
// empty, the highest stable semantic version (pre-releases excluded);
// otherwise want itself if listed exactly, else the highest version that
// satisfies want read as a semver constraint. Versions that are not
// semantic versions can only be selected exactly. Errors wrap
// [ErrNotFound] or, for a malformed constraint, [ErrInvalid].
func SelectVersion(versions []string, want string) (string, error) {
	if want != "" && slices.Contains(versions, want) {
		return want, nil
	}
	expr := want
	if expr == "" {
		expr = "*"
	}
	c, err := semver.NewConstraint(expr)
	if err != nil {
		return "", fmt.Errorf("%w: version %q is neither a listed version nor a semver constraint: %v", ErrInvalid, want, err)
	}
	var best *semver.Version
	bestRaw := ""
	for _, v := range versions {
		sv, err := semver.NewVersion(v)
		if err != nil || !c.Check(sv) {
			continue
		}
		if best == nil || sv.GreaterThan(best) {
			best, bestRaw = sv, v
		}
	}
	if best == nil {
		if want == "" {
			return "", fmt.Errorf("%w: no stable version among %d listed", ErrNotFound, len(versions))
		}
		return "", fmt.Errorf("%w: no version matches %q among %d listed", ErrNotFound, want, len(versions))
	}
	return bestRaw, nil
}
