package regserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
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

func TestTokenAuth(t *testing.T) {
	r := regserver.New(t, regserver.Options{Username: "alice", Password: "s3cret", Token: &regserver.TokenAuth{}})
	ctx := context.Background()
	repo := func(user, pass string) *remote.Repository {
		repo, _ := remote.NewRepository(r.Host + "/a/b")
		repo.PlainHTTP = true
		repo.Client = &auth.Client{Cache: auth.NewCache(),
			Credential: auth.StaticCredential(r.Host, auth.Credential{Username: user, Password: pass})}
		return repo
	}
	content := []byte("behind a token")
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(content), Size: int64(len(content))}
	if err := repo("alice", "s3cret").Push(ctx, desc, bytes.NewReader(content)); err != nil {
		t.Fatalf("push with good credentials: %v", err)
	}
	if ok, err := repo("alice", "s3cret").Exists(ctx, desc); err != nil || !ok {
		t.Fatalf("exists = %v, %v", ok, err)
	}
	if got := r.Tokens.Issued(); got < 2 {
		t.Errorf("tokens issued = %d, want one per client at least", got)
	}
	_, err := repo("alice", "wrong").Exists(ctx, desc)
	var resp *errcode.ErrorResponse
	if err == nil || !asErr(err, &resp) || resp.StatusCode != 401 {
		t.Fatalf("wrong password: err = %v, want 401 from the token endpoint", err)
	}
	if r.Tokens.Refused() != 1 {
		t.Errorf("refused = %d, want 1", r.Tokens.Refused())
	}
}

// TestTokenExpiry checks that the registry itself refuses a token once its
// lifetime is over, although distribution adds a minute of leeway to exp.
func TestTokenExpiry(t *testing.T) {
	const lifetime = time.Second
	r := regserver.New(t, regserver.Options{Token: &regserver.TokenAuth{Lifetime: lifetime}})
	get := func(url, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	tags := r.URL + "/v2/a/b/tags/list"
	resp := get(tags, "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Www-Authenticate"), `Bearer realm="`+r.URL+regserver.TokenPath+`"`) {
		t.Fatalf("no token: %d %q, want a Bearer challenge naming the realm", resp.StatusCode, resp.Header.Get("Www-Authenticate"))
	}
	issued := time.Now()
	resp = get(r.URL+regserver.TokenPath+"?service=enclave-test-registry&scope=repository:a/b:pull", "")
	var tok struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" || tok.Token != tok.AccessToken || tok.ExpiresIn != 1 {
		t.Fatalf("token response %+v, %v", tok, err)
	}
	// A fresh token is accepted: the repository is unknown (404), not 401.
	if resp := get(tags, tok.Token); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("fresh token: status %d, want 404 NAME_UNKNOWN", resp.StatusCode)
	}
	time.Sleep(time.Until(issued.Add(lifetime + time.Second + 100*time.Millisecond)))
	resp = get(tags, tok.Token)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("Www-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("expired token: %d %q, want 401 invalid_token", resp.StatusCode, resp.Header.Get("Www-Authenticate"))
	}
	if got := r.Tokens.Issued(); got != 1 {
		t.Errorf("issued = %d, want 1", got)
	}
}
