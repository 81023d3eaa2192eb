package format_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/format"
)

// A manifest that DecodeManifest accepts; each case below changes one thing.
const strictBase = `{"mediaType":"application/vnd.enclave.archive.manifest.v1+json","archiveID":"101112131415161718191a1b1c1d1e1f","created":"2026-01-02T03:04:05Z","sequence":0,` +
	`"roots":[{"descriptor":{"mediaType":"application/octet-stream","digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":5,"platform":{"architecture":"amd64","os":"linux"}},"references":["r.example/a:1"]}],` +
	`"annotations":{"a":"b"}}`

func TestDecodeManifestStrict(t *testing.T) {
	root := `"roots":[{"descriptor":`
	tests := []struct {
		name    string
		json    string
		wantErr error
	}{
		{"base", strictBase, nil},
		{"unknown member ignored", strings.Replace(strictBase, `"sequence":0`, `"sequence":0,"sparse":{"x":[1,{"y":2}]}`, 1), nil},
		{"annotation keys are exact", strings.Replace(strictBase, `{"a":"b"}`, `{"a":"b","A":"c"}`, 1), nil},
		{"empty lineage is absent", strings.Replace(strictBase, `"sequence":0`, `"lineage":"","sequence":0`, 1), nil},
		{"null created is absent", strings.Replace(strictBase, `"2026-01-02T03:04:05Z"`, `null`, 1), nil},
		{"created with offset and fraction", strings.Replace(strictBase, `"2026-01-02T03:04:05Z"`, `"2024-02-29T23:59:59.5-07:30"`, 1), nil},
		{"escaped surrogate pair", strings.Replace(strictBase, `{"a":"b"}`, `{"a":"\ud83d\ude00 \\ud800"}`, 1), nil},

		{"duplicate member", strings.Replace(strictBase, `"sequence":0`, `"sequence":0,"sequence":1`, 1), format.ErrMalformed},
		{"duplicate roots", strings.Replace(strictBase, `,"annotations"`, `,"roots":null,"annotations"`, 1), format.ErrMalformed},
		{"duplicate in a descriptor", strings.Replace(strictBase, `"size":5`, `"size":5,"size":5`, 1), format.ErrMalformed},
		{"duplicate annotation", strings.Replace(strictBase, `{"a":"b"}`, `{"a":"b","a":"b"}`, 1), format.ErrMalformed},
		{"duplicate in an unknown member", strings.Replace(strictBase, `"sequence":0`, `"sequence":0,"x":{"k":1,"k":2}`, 1), format.ErrMalformed},
		{"member case", strings.Replace(strictBase, `"archiveID"`, `"ARCHIVEID"`, 1), format.ErrMalformed},
		{"member case in a root", strings.Replace(strictBase, root, `"roots":[{"Descriptor":`, 1), format.ErrMalformed},
		{"member case of omitted in a root", strings.Replace(strictBase, root, `"roots":[{"Omitted":[],"descriptor":`, 1), format.ErrMalformed},
		{"member case in a platform", strings.Replace(strictBase, `"os":"linux"`, `"OS":"linux"`, 1), format.ErrMalformed},
		{"member folds to a name (long s)", strings.Replace(strictBase, `"sequence":0`, `"\u017fequence":0`, 1), format.ErrMalformed},
		{"invalid UTF-8", strings.Replace(strictBase, `{"a":"b"}`, "{\"a\":\"\xff\"}", 1), format.ErrMalformed},
		{"lone high surrogate", strings.Replace(strictBase, `{"a":"b"}`, `{"a":"\ud800"}`, 1), format.ErrMalformed},
		{"lone low surrogate", strings.Replace(strictBase, `{"a":"b"}`, `{"a":"x\udc00"}`, 1), format.ErrMalformed},
		{"garbage created", strings.Replace(strictBase, `"2026-01-02T03:04:05Z"`, `"yesterday"`, 1), format.ErrMalformed},
		{"created lower-case t", strings.Replace(strictBase, `"2026-01-02T03:04:05Z"`, `"2026-01-02t03:04:05Z"`, 1), format.ErrMalformed},
		{"created leap second", strings.Replace(strictBase, `"2026-01-02T03:04:05Z"`, `"2026-12-31T23:59:60Z"`, 1), format.ErrMalformed},
		{"created February 30", strings.Replace(strictBase, `"2026-01-02T03:04:05Z"`, `"2026-02-30T03:04:05Z"`, 1), format.ErrMalformed},
		{"created offset +24:00", strings.Replace(strictBase, `"2026-01-02T03:04:05Z"`, `"2026-01-02T03:04:05+24:00"`, 1), format.ErrMalformed},
		{"created a number", strings.Replace(strictBase, `"2026-01-02T03:04:05Z"`, `20260102`, 1), format.ErrMalformed},
		{"nested too deep", strings.Replace(strictBase, `"sequence":0`, `"sequence":0,"x":`+strings.Repeat("[", 70)+strings.Repeat("]", 70), 1), format.ErrMalformed},
		{"trailing data", strictBase + `{}`, format.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := format.DecodeManifest([]byte(tt.json))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}
