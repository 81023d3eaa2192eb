package catalog

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParse feeds arbitrary file contents to the document splitters and
// decoders: no panic, bounded documents, and every document's recorded
// place points at its bytes (what writing a filtered catalog relies on).
func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/demo/alpha/catalog.json", "testdata/demo/beta/catalog.yaml", "testdata/demo/gamma/catalog.json", "testdata/demo/catalog.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"schema":"x","s":"a\"}{b\\"}{"schema":"y"}`))
	f.Add([]byte("---\nschema: x\n...\n--- \nschema: y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer func(n int64) { maxDocumentSize = n }(maxDocumentSize)
		maxDocumentSize = 1 << 16
		r := &reader{c: &Catalog{}}
		fl := &file{path: "configs/p/catalog.json"}
		err := r.parse(fl, bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, d := range fl.docs {
			var loc location
			switch d := d.(type) {
			case *Bundle:
				loc = d.loc
			case *Blob:
				loc = d.loc
			default:
				continue
			}
			if loc.offset < 0 || loc.offset+loc.length > int64(len(data)) || loc.length > maxDocumentSize {
				t.Fatalf("document at %d+%d outside the %d-byte file", loc.offset, loc.length, len(data))
			}
			doc := data[loc.offset : loc.offset+loc.length]
			if loc.yaml {
				if _, err := yamlToJSON(doc); err != nil {
					t.Fatalf("YAML document at %d no longer converts: %v", loc.offset, err)
				}
			} else if doc[0] != '{' || doc[len(doc)-1] != '}' {
				t.Fatalf("JSON document at %d is %q", loc.offset, doc)
			}
		}
	})
}
