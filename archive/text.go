package archive

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/enclave-mirror/enclave/format"
)

// maxTextLen bounds a reference, media type or attachment name read from an
// archive.
const maxTextLen = 4096

// checkText refuses a manifest whose references, media types, artifact
// types, attachment names or prerequisite origins hold anything but
// printable characters: these are shown by inspect, in plans and in
// errors, and an escape sequence in them would rewrite the terminal of
// whoever looks at an untrusted archive. The offending string is quoted
// (%q) in the error.
func checkText(m *format.Manifest) error {
	bad := func(what, s string) error {
		if len(s) > 80 {
			s = s[:80]
		}
		return fmt.Errorf("%w: manifest: %s %q holds a control or non-printing character, or is not UTF-8 (a damaged or hostile archive)", format.ErrMalformed, what, s)
	}
	for i, r := range m.Roots {
		for _, ref := range r.References {
			if !printable(ref) {
				return bad(fmt.Sprintf("root %d reference", i), ref)
			}
		}
		for _, s := range []string{r.Descriptor.MediaType, r.Descriptor.ArtifactType} {
			if !printable(s) {
				return bad(fmt.Sprintf("root %d (%s) media type", i, r.Descriptor.Digest), s)
			}
		}
	}
	if m.Delta != nil {
		for _, p := range m.Delta.Prerequisites {
			for _, s := range []string{p.MediaType, p.ArtifactType, p.ProvidedBy} {
				if !printable(s) {
					return bad(fmt.Sprintf("prerequisite %s", p.Digest), s)
				}
			}
		}
	}
	for i, a := range m.Attachments {
		if !printable(a.Name) {
			return bad(fmt.Sprintf("attachment %d name", i), a.Name)
		}
		if !printable(a.MediaType) {
			return bad(fmt.Sprintf("attachment %q media type", a.Name), a.MediaType)
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 of printable characters
// (unicode.IsPrint: no C0 or C1 controls, no format characters such as
// bidirectional overrides), at most maxTextLen bytes.
func printable(s string) bool {
	if len(s) > maxTextLen || !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}
