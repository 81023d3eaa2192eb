package helm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/ocistore"
)

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(got) != digest.FromBytes(want) {
		t.Errorf("%s: sha256 %s, want %s", path, digest.FromBytes(got), digest.FromBytes(want))
	}
}

func resolveDigest(t *testing.T, cl *ocistore.Client, ref string) digest.Digest {
	t.Helper()
	r, err := ocistore.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	repo := remoteRepo(t, cl, r.Name())
	desc, err := repo.Resolve(context.Background(), r.Tag)
	if err != nil {
		t.Fatalf("resolve %s: %v", ref, err)
	}
	return desc.Digest
}

// TestHelmCLIOCI pushes charts as this package builds them into the
// in-process registry and pulls them with the real helm client: the pulled
// .tgz is the source's byte for byte. It also pushes the same archives
// with helm push and checks that helm writes the very manifest this
// package synthesizes (same digest), provenance layer included.
func TestHelmCLIOCI(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real helm client")
	}
	helmCLI(t)
	s := newRepoServer(t, false)
	charts, keyring := mirroredCharts(t, s)
	reg := regserver.New(t, regserver.Options{})
	cl := testClient(t)
	home := t.TempDir()
	ctx := context.Background()
	root := reg.Host + "/mirror"
	for _, c := range charts {
		t.Run(c.Name+"-"+c.Version, func(t *testing.T) {
			dst, err := ChartDestination(c)
			if err != nil {
				t.Fatal(err)
			}
			desc, err := c.Push(ctx, remoteRepo(t, cl, root+"/"+dst.Repository))
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			runHelm(t, home, "pull", "oci://"+root+"/"+dst.Repository, "--version", c.Version, "--plain-http", "-d", out)
			sameFile(t, filepath.Join(out, ArchiveName(c)), c.Archive)

			// helm push of the same archive (and .prov), with the
			// archive's mtime as created: the same manifest.
			src := t.TempDir()
			tgz := filepath.Join(src, ArchiveName(c))
			if err := os.WriteFile(tgz, c.Archive, 0o644); err != nil {
				t.Fatal(err)
			}
			if c.Provenance != nil {
				if err := os.WriteFile(tgz+".prov", c.Provenance, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			created := c.Created
			if created.IsZero() {
				created = PackageEpoch
			}
			if err := os.Chtimes(tgz, created, created); err != nil {
				t.Fatal(err)
			}
			runHelm(t, home, "push", tgz, "oci://"+reg.Host+"/helmpush", "--plain-http")
			if got := resolveDigest(t, cl, reg.Host+"/helmpush/"+c.Name+":"+c.Tag()); got != desc.Digest {
				t.Errorf("helm push wrote manifest %s, this package %s", got, desc.Digest)
			}
		})
	}

	// A chart pulled from an OCI repository and copied to the mirror keeps
	// its digest, and helm verifies its provenance there.
	o, err := NewOCIRepository("pushed", "oci://"+reg.Host+"/helmpush", cl, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	demo, err := o.Pull(ctx, "demo", "")
	if err != nil {
		t.Fatal(err)
	}
	_, srcDesc, _ := demo.Manifest()
	dst, err := ChartDestination(demo)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(reg.Host, ":", "__") + "/helmpush/demo"; dst.Repository != want {
		t.Errorf("destination %s, want %s", dst.Repository, want)
	}
	got, err := demo.Push(ctx, remoteRepo(t, cl, root+"/"+dst.Repository))
	if err != nil || got.Digest != srcDesc.Digest {
		t.Fatalf("copy %s %v, want %s", got.Digest, err, srcDesc.Digest)
	}
	kr := filepath.Join(home, "pubring.gpg")
	if err := os.WriteFile(kr, keyring, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	runHelm(t, home, "pull", "oci://"+root+"/"+dst.Repository, "--version", "1.2.3+build.5", "--plain-http", "--verify", "--keyring", kr, "-d", out)
	sameFile(t, filepath.Join(out, ArchiveName(demo)), demo.Archive)
}

// TestHelmCLIRepository writes a classic repository directory, serves it
// with a plain file server, and uses it with helm repo add and helm pull
// (--verify for the signed chart): the pulled archives are the sources'.
func TestHelmCLIRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real helm client")
	}
	helmCLI(t)
	charts, keyring := mirroredCharts(t, newRepoServer(t, false))
	dir := t.TempDir()
	if err := WriteRepository(dir, charts); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	home := t.TempDir()
	kr := filepath.Join(home, "pubring.gpg")
	if err := os.WriteFile(kr, keyring, 0o644); err != nil {
		t.Fatal(err)
	}
	runHelm(t, home, "repo", "add", "mirror", srv.URL+"/charts/..")
	list := runHelm(t, home, "search", "repo", "mirror/", "--versions")
	for _, c := range charts {
		if !strings.Contains(list, "mirror/"+c.Name) || !strings.Contains(list, c.Version) {
			t.Errorf("helm search repo does not list %s %s:\n%s", c.Name, c.Version, list)
		}
		out := t.TempDir()
		args := []string{"pull", "mirror/" + c.Name, "--version", c.Version, "-d", out}
		if c.Provenance != nil {
			args = append(args, "--verify", "--keyring", kr)
		}
		runHelm(t, home, args...)
		sameFile(t, filepath.Join(out, ArchiveName(c)), c.Archive)
	}
	// --verify means something: another key's keyring is refused.
	otherRing, _ := publicKeyring(t, newKey(t, "someone else"))
	other := filepath.Join(home, "other.gpg")
	if err := os.WriteFile(other, otherRing, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := helmCmd(t, home, "pull", "mirror/demo", "--version", "1.2.3+build.5", "--verify", "--keyring", other, "-d", t.TempDir()); err == nil {
		t.Errorf("helm pull --verify with another key succeeded:\n%s", out)
	}

	// No version: the latest stable, as in the source repository.
	out := t.TempDir()
	runHelm(t, home, "pull", "mirror/service-binding-operator", "-d", out)
	sameFile(t, filepath.Join(out, "service-binding-operator-1.4.1.tgz"), charts[3].Archive)
}
