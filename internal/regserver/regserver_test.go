package regserver_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/enclave-mirror/enclave/internal/regserver"
)

func TestPushFetchBlob(t *testing.T) {
	r := regserver.New(t, regserver.Options{})
	repo, err := remote.NewRepository(r.Host + "/test/app")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	content := []byte("hello registry")
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(content), Size: int64(len(content))}
	ctx := context.Background()
	if err := repo.Push(ctx, desc, bytes.NewReader(content)); err != nil {
		t.Fatalf("push: %v", err)
	}
	ok, err := repo.Exists(ctx, desc)
	if err != nil || !ok {
		t.Fatalf("exists = %v, %v", ok, err)
	}
	// A wrong digest is refused by the real registry (DIGEST_INVALID).
	bad := desc
	bad.Digest = digest.FromString("other")
	if err := repo.Push(ctx, bad, bytes.NewReader(content)); err == nil {
		t.Fatal("push with wrong digest succeeded")
	}
}

func TestHTPasswd(t *testing.T) {
	r := regserver.New(t, regserver.Options{Username: "alice", Password: "s3cret"})
	ctx := context.Background()
	try := func(user, pass string) error {
		repo, _ := remote.NewRepository(r.Host + "/a/b")
		repo.PlainHTTP = true
		repo.Client = &auth.Client{Credential: auth.StaticCredential(r.Host, auth.Credential{Username: user, Password: pass})}
		_, err := repo.Exists(ctx, ocispec.Descriptor{Digest: digest.FromString("x"), Size: 1})
		return err
	}
	if err := try("alice", "s3cret"); err != nil {
		t.Fatalf("good credentials: %v", err)
	}
	err := try("alice", "wrong")
	var resp *errcode.ErrorResponse
	if err == nil || !asErr(err, &resp) || resp.StatusCode != 401 {
		t.Fatalf("wrong password: err = %v, want 401", err)
	}
}
