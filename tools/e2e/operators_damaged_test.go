package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/catalog/catalogtest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/mirror"
	"github.com/enclave-mirror/enclave/mirror/operators"
)

// operatorsArchive packs a catalog of one package (two bundles, one
// operator image) from src into a new archive directory and returns it.
func operatorsArchive(t *testing.T, src *regserver.Registry) string {
	t.Helper()
	ctx := context.Background()
	img := func(name string, seed uint64) string {
		d, err := archivetest.Image(ctx, repo(t, src.Host, name), "amd64", archivetest.Blob(seed, 3000, false))
		if err != nil {
			t.Fatal(err)
		}
		return src.Host + "/" + name + "@" + d.Digest.String()
	}
	files := map[string][]byte{
		"alpha/catalog.json": []byte(catalogtest.Package("alpha", "stable", "alpha.v1", "alpha.v2") + "\n" +
			catalogtest.Bundle("alpha", "alpha.v1", "1.0.0", img("demo/alpha-bundle", 61)) + "\n" +
			catalogtest.Bundle("alpha", "alpha.v2", "2.0.0", img("demo/alpha-bundle", 62), img("demo/alpha-operator", 63))),
	}
	cr := repo(t, src.Host, "redhat/demo-index")
	orig, err := catalogtest.Image(ctx, cr, "amd64", files)
	if err != nil {
		t.Fatal(err)
	}
	if err := cr.Tag(ctx, orig, "v1"); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	isc := filepath.Join(work, "isc.yaml")
	os.WriteFile(isc, []byte("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  operators:\n  - catalog: "+src.Host+"/redhat/demo-index:v1\n    packages:\n    - name: alpha\n"), 0o644)
	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir), 0)
	return dir
}

// withAttachment writes a copy of the archive in dir whose attachment name
// holds data instead (every root and the other attachments as they are),
// and returns its directory.
func withAttachment(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	ctx := context.Background()
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := filepath.Join(t.TempDir(), "content")
	w, err := archive.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, root := range r.Roots() {
		if err := oras.CopyGraph(ctx, r, w, root.Descriptor, oras.DefaultCopyGraphOptions); err != nil {
			t.Fatal(err)
		}
		for _, ref := range root.References {
			if err := w.Tag(ctx, root.Descriptor, ref); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, a := range r.Manifest().Attachments {
		b, err := r.Attachment(ctx, a.Name, 0)
		if err != nil {
			t.Fatal(err)
		}
		if a.Name == name {
			b = data
		}
		if err := w.Attach(ctx, a.Name, a.MediaType, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDamagedCatalogsRecord: an archive whose operators/catalogs.json is
// damaged (its bytes no longer match its digest) or malformed (not the
// record pack writes) makes enclave-unpack inspect print a PROBLEM line
// naming the attachment and exit 3, and unpack refuse with exit 3, naming
// it, before a single write reaches the registry: no half catalog is
// pushed.
func TestDamagedCatalogsRecord(t *testing.T) {
	src := regserver.New(t, regserver.Options{})
	good := operatorsArchive(t, src)
	r, err := archive.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	var record []byte
	for _, a := range r.Manifest().Attachments {
		if a.Name == operators.AttachCatalogs {
			record, err = r.Attachment(context.Background(), a.Name, 0)
		}
	}
	r.Close()
	if record == nil || err != nil {
		t.Fatalf("the archive has no %s: %v", operators.AttachCatalogs, err)
	}
	// The bytes of the attachment, one bit flipped in the volume.
	damaged := copyArchive(t, good)
	{
		r, err := archive.Open(damaged)
		if err != nil {
			t.Fatal(err)
		}
		var c *struct {
			vol uint32
			off int64
		}
		for _, a := range r.Manifest().Attachments {
			if a.Name == operators.AttachCatalogs {
				b, ok := r.Format().Lookup(a.Digest)
				if !ok {
					t.Fatal("attachment not in the index")
				}
				ch := r.Format().Chunks(b)[0]
				c = &struct {
					vol uint32
					off int64
				}{ch.Volume, ch.Offset + int64(ch.StoredSize)/2}
			}
		}
		r.Close()
		flipBit(t, filepath.Join(damaged, archive.VolumeName(c.vol)), c.off)
	}

	cases := []struct {
		name string
		dir  string
		want string // in the problem, besides the attachment's name
		skip bool   // also unpack with --skip-verify
		edit bool   // the good record, edited
	}{
		{name: "damaged bytes", dir: damaged, want: "", skip: true},
		{name: "not JSON", dir: withAttachment(t, good, operators.AttachCatalogs, []byte("{not json")), want: "invalid character", skip: true},
		{name: "an object, not a list", dir: withAttachment(t, good, operators.AttachCatalogs, []byte(`{"catalog": "x"}`)), want: "cannot unmarshal", skip: true},
		{name: "null", dir: withAttachment(t, good, operators.AttachCatalogs, []byte("null")), want: "no catalog", skip: true},
		{name: "empty list", dir: withAttachment(t, good, operators.AttachCatalogs, []byte("[]")), want: "no catalog"},
		{name: "no repository", dir: withAttachment(t, good, operators.AttachCatalogs, []byte(strings.Replace(string(record), `"repository": "redhat/demo-index"`, `"repository": ""`, 1))), want: "repository", skip: true, edit: true},
		{name: "no tag", dir: withAttachment(t, good, operators.AttachCatalogs, []byte(strings.Replace(string(record), `"tag": "v1"`, `"tag": ""`, 1))), want: "tag", edit: true},
		{name: "source not a reference", dir: withAttachment(t, good, operators.AttachCatalogs, []byte(strings.Replace(string(record), `"source": "`, `"source": "Not A Reference `, 1))), want: "source", edit: true},
		{name: "filtered catalog not a digest", dir: withAttachment(t, good, operators.AttachCatalogs, []byte(strings.Replace(string(record), `"filtered": "sha256:`, `"filtered": "sha256:zz`, 1))), want: "filtered", edit: true},
		{name: "an image not a reference", dir: withAttachment(t, good, operators.AttachCatalogs, []byte(strings.Replace(string(record), `"images": [`, `"images": ["::bad::", `, 1))), want: "::bad::", edit: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.edit {
				// The edit must have applied, or the case tests nothing.
				ar, err := archive.Open(tc.dir)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := ar.Attachment(context.Background(), operators.AttachCatalogs, 0)
				ar.Close()
				if string(b) == string(record) {
					t.Fatal("the record was not changed")
				}
			}
			ir := unpack(t, "inspect", "file://"+tc.dir)
			mustCode(t, ir, mirror.ExitIntegrity)
			if !strings.Contains(ir.stdout, "PROBLEM") || !strings.Contains(ir.stdout, operators.AttachCatalogs) || !strings.Contains(ir.stdout, tc.want) {
				t.Errorf("inspect does not name the problem (%q) with %s:\nstdout:\n%s\nstderr:\n%s", tc.want, operators.AttachCatalogs, ir.stdout, ir.stderr)
			}
			variants := [][]string{nil}
			if tc.skip {
				variants = append(variants, []string{"--skip-verify"})
			}
			for _, extra := range variants {
				var writes writeCounter
				dst := regserver.New(t, regserver.Options{Wrap: writes.wrap})
				ur := unpack(t, unpackArgs(t, tc.dir, dst.Host, extra...)...)
				mustCode(t, ur, mirror.ExitIntegrity)
				if !strings.Contains(ur.stderr+ur.stdout, operators.AttachCatalogs) {
					t.Errorf("unpack %v does not name %s:\nstdout:\n%s\nstderr:\n%s", extra, operators.AttachCatalogs, ur.stdout, ur.stderr)
				}
				if n := writes.n.Load(); n != 0 {
					t.Errorf("unpack %v: %d write requests reached the registry", extra, n)
				}
			}
		})
	}
}
