// Package kinds lists every kind of content enclave mirrors, in the order
// an unpack asks them to claim archive roots: the kinds with their own
// records first, the catch-all (additional images) last. It is the one
// place that names them all; package mirror takes the list.
package kinds

import (
	"github.com/enclave-mirror/enclave/mirror/additional"
	"github.com/enclave-mirror/enclave/mirror/helm"
	"github.com/enclave-mirror/enclave/mirror/operators"
	"github.com/enclave-mirror/enclave/mirror/platform"
	"github.com/enclave-mirror/enclave/mirror/section"
)

// Options configure the kinds that take options.
type Options struct {
	// Platform configures mirror.platform.
	Platform platform.Options
	// Operators configures mirror.operators.
	Operators operators.Options
	// Helm configures mirror.helm.
	Helm helm.Options
}

// All returns every kind, configured by o.
func All(o Options) []section.Kind {
	return []section.Kind{
		platform.New(o.Platform),
		operators.NewWithOptions(o.Operators),
		helm.New(o.Helm),
		additional.New(),
	}
}
