package ocistore

import "testing"

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"quay.io/org/app:1.2", "alpine", "host:5000/a/b@" + dgstA, "quay.io/org/app:1.2@" + dgstA, "[::1]:5000/x", "a@sha256:../../etc/passwd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := ParseReference(s)
		if err != nil {
			return
		}
		if err := ref.Validate(); err != nil {
			t.Fatalf("ParseReference(%q) = %+v which does not validate: %v", s, ref, err)
		}
		again, err := ParseReference(ref.String())
		if err != nil || again != ref {
			t.Fatalf("round trip %q -> %q -> %+v, %v", s, ref.String(), again, err)
		}
	})
}
