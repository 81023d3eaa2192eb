//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/enclave-mirror/enclave/internal/testing/corpus"
)

// writeISC writes an ImageSetConfiguration (oc-mirror v2 format) that lists
// images on host as additional images.
func writeISC(path, host string, images []corpus.Image) error {
	var b strings.Builder
	b.WriteString("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n")
	for _, im := range images {
		fmt.Fprintf(&b, "  - name: %s\n", im.Reference(host))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
