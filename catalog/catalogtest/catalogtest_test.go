package catalogtest_test

import (
	"context"
	"testing"

	"oras.land/oras-go/v2/content/memory"

	"github.com/enclave-mirror/enclave/catalog"
	"github.com/enclave-mirror/enclave/catalog/catalogtest"
	"github.com/enclave-mirror/enclave/imageset"
)

func TestImage(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	files := map[string][]byte{"p/catalog.json": []byte(catalogtest.Package("p", "stable", "p.v1", "p.v2") + "\n" +
		catalogtest.Bundle("p", "p.v1", "1.0.0", "quay.example/p/bundle@sha256:0000000000000000000000000000000000000000000000000000000000000001") + "\n" +
		catalogtest.Bundle("p", "p.v2", "2.0.0", "quay.example/p/bundle@sha256:0000000000000000000000000000000000000000000000000000000000000002", "quay.example/p/op:v2"))}
	d, err := catalogtest.Image(ctx, store, "amd64", files)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := catalogtest.Image(ctx, memory.New(), "amd64", files)
	if again.Digest != d.Digest {
		t.Errorf("not reproducible: %s then %s", d.Digest, again.Digest)
	}
	c, err := catalog.Load(ctx, store, d)
	if err != nil {
		t.Fatal(err)
	}
	s, err := catalog.Filter(c, imageset.Operator{})
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Package("p"); p == nil || p.Channel("stable").Head != "p.v2" || len(s.Images()) != 2 {
		t.Fatalf("selection %+v images %v", s.Packages, s.Images())
	}
}
