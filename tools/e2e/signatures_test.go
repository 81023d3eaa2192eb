package e2e

// Issue 17: Sigstore signatures, attestations and SBOMs stored as cosign
// tags (sha256-<hex>.sig, .att, .sbom) travel with their images, made here
// in cosign's own format and pushed under cosign's tags.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/internal/testing/regserver"
	"github.com/enclave-mirror/enclave/release"
)

// Cosign's media types and annotations.
const (
	simpleSigningType   = "application/vnd.dev.cosign.simplesigning.v1+json"
	dsseEnvelopeType    = "application/vnd.dsse.envelope.v1+json"
	cosignSigAnnotation = "dev.cosignproject.cosign/signature"
	cosignSigArtifact   = "application/vnd.dev.cosign.artifact.sig.v1+json"
)

// cosigner makes what cosign makes, signed with an ECDSA P-256 key as
// cosign's generated keys are.
type cosigner struct{ key *ecdsa.PrivateKey }

func newCosigner(t *testing.T) *cosigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &cosigner{key: k}
}

func (c *cosigner) signBytes(t *testing.T, b []byte) string {
	t.Helper()
	h := sha256.Sum256(b)
	sig, err := ecdsa.SignASN1(rand.Reader, c.key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// publicKeyPEM is the key `cosign verify --key` reads.
func (c *cosigner) publicKeyPEM(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&c.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// cosignTagOf is the tag cosign gives what it attaches to d.
func cosignTagOf(d digest.Digest, suffix string) string {
	return string(d.Algorithm()) + "-" + d.Encoded() + suffix
}

// attach pushes a cosign manifest (cosign's config shape, the given
// layers) into dst and tags it tag.
func attach(t *testing.T, dst oras.Target, tag string, layers ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	var diffIDs []string
	for _, l := range layers {
		diffIDs = append(diffIDs, l.Digest.String())
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "", "os": "", "created": "0001-01-01T00:00:00Z",
		"history": []map[string]string{{"created": "0001-01-01T00:00:00Z"}},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": diffIDs}, "config": map[string]any{},
	})
	cd := pushBlob(t, dst, ocispec.MediaTypeImageConfig, cfg)
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: layers}
	mb, _ := json.Marshal(m)
	md := pushBlob(t, dst, ocispec.MediaTypeImageManifest, mb)
	if err := dst.Tag(ctx, md, tag); err != nil {
		t.Fatal(err)
	}
	return md
}

func pushBlob(t *testing.T, dst content.Pusher, mediaType string, b []byte) ocispec.Descriptor {
	t.Helper()
	d := content.NewDescriptorFromBytes(mediaType, b)
	if err := dst.Push(context.Background(), d, strings.NewReader(string(b))); err != nil && !strings.Contains(err.Error(), errdef.ErrAlreadyExists.Error()) {
		t.Fatal(err)
	}
	return d
}

// sign pushes a cosign signature of subject (a simple-signing payload
// naming ref and the digest, its signature in the layer's annotation) as
// sha256-<hex>.sig.
func (c *cosigner) sign(t *testing.T, dst oras.Target, ref string, subject digest.Digest) ocispec.Descriptor {
	t.Helper()
	payload := fmt.Sprintf(`{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, ref, subject)
	l := pushBlob(t, dst, simpleSigningType, []byte(payload))
	l.Annotations = map[string]string{cosignSigAnnotation: c.signBytes(t, []byte(payload))}
	return attach(t, dst, cosignTagOf(subject, ".sig"), l)
}

// attest pushes an in-toto attestation of subject in a DSSE envelope (as
// `cosign attest` does) as sha256-<hex>.att.
func (c *cosigner) attest(t *testing.T, dst oras.Target, ref string, subject digest.Digest, builder string) ocispec.Descriptor {
	t.Helper()
	const predicateType = "https://slsa.dev/provenance/v0.2"
	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":%q,"subject":[{"name":%q,"digest":{"sha256":%q}}],"predicate":{"builder":{"id":%q}}}`,
		predicateType, ref, subject.Encoded(), builder)
	const payloadType = "application/vnd.in-toto+json"
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(stmt), stmt)
	env, _ := json.Marshal(map[string]any{
		"payloadType": payloadType, "payload": base64.StdEncoding.EncodeToString([]byte(stmt)),
		"signatures": []map[string]string{{"keyid": "", "sig": c.signBytes(t, []byte(pae))}},
	})
	l := pushBlob(t, dst, dsseEnvelopeType, env)
	l.Annotations = map[string]string{cosignSigAnnotation: "", "predicateType": predicateType}
	return attach(t, dst, cosignTagOf(subject, ".att"), l)
}

// sbom pushes an SPDX document as cosign attach sbom does, as
// sha256-<hex>.sbom.
func sbom(t *testing.T, dst oras.Target, subject digest.Digest) ocispec.Descriptor {
	t.Helper()
	doc := fmt.Sprintf(`{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":%q,"packages":[]}`, subject)
	return attach(t, dst, cosignTagOf(subject, ".sbom"), pushBlob(t, dst, "text/spdx+json", []byte(doc)))
}

// signedSet is a sample set with cosign tags: the multi-arch index
// library/app signed and attested, each of its platform manifests signed;
// team/tool signed, with an SBOM, and an OCI 1.1 signature referrer besides
// the sample's other referrer.
type signedSet struct {
	src  *regserver.Registry
	s    *archivetest.Sample
	isc  string
	c    *cosigner
	tags map[string]ocispec.Descriptor // "repo:sha256-<hex>.sig" -> its manifest
	// sigReferrer is team/tool's OCI 1.1 signature referrer.
	sigReferrer ocispec.Descriptor
}

func newSignedSet(t *testing.T, variant uint64) *signedSet {
	t.Helper()
	ctx := context.Background()
	src := regserver.New(t, regserver.Options{})
	s, isc := seed(t, src, variant, src.Host)
	set := &signedSet{src: src, s: s, isc: isc, c: newCosigner(t), tags: map[string]ocispec.Descriptor{}}
	tag := fmt.Sprintf("v%d", variant)
	app, tool := repo(t, src.Host, "library/app"), repo(t, src.Host, "team/tool")
	idx := s.Tags["library/app:"+tag]
	set.tags["library/app:"+cosignTagOf(idx.Digest, ".sig")] = set.c.sign(t, app, src.Host+"/library/app", idx.Digest)
	set.tags["library/app:"+cosignTagOf(idx.Digest, ".att")] = set.c.attest(t, app, src.Host+"/library/app", idx.Digest, "https://example.com/builder")
	b, err := content.FetchAll(ctx, app, idx)
	if err != nil {
		t.Fatal(err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 2 {
		t.Fatalf("sample index lists %d manifests", len(index.Manifests))
	}
	for _, m := range index.Manifests {
		set.tags["library/app:"+cosignTagOf(m.Digest, ".sig")] = set.c.sign(t, app, src.Host+"/library/app", m.Digest)
	}
	img := s.Tags["team/tool:"+tag]
	set.tags["team/tool:"+cosignTagOf(img.Digest, ".sig")] = set.c.sign(t, tool, src.Host+"/team/tool", img.Digest)
	set.tags["team/tool:"+cosignTagOf(img.Digest, ".sbom")] = sbom(t, tool, img.Digest)
	set.sigReferrer, err = archivetest.Referrer(ctx, tool, img, cosignSigArtifact, []byte(`{"signature":"stand-in"}`))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// checkCosignTags asserts that each cosign tag is at dst/prefix/<repo>:<tag>,
// naming the same manifest as at the source, and that its whole graph is
// there byte for byte.
func checkCosignTags(t *testing.T, src *regserver.Registry, tags map[string]ocispec.Descriptor, dst *regserver.Registry, prefix string) {
	t.Helper()
	ctx := context.Background()
	for ref, want := range tags {
		name, tag, _ := strings.Cut(ref, ":")
		d := repo(t, dst.Host, prefix+"/"+name)
		got, err := d.Resolve(ctx, tag)
		if err != nil {
			t.Errorf("%s at %s/%s: %v", ref, dst.Host, prefix, err)
			continue
		}
		if got.Digest != want.Digest {
			t.Errorf("%s: destination digest %s, source %s", ref, got.Digest, want.Digest)
		}
		if err := archivetest.SameGraph(ctx, repo(t, src.Host, name), d, want); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
		skopeoCheck(t, dst.Host+"/"+prefix+"/"+name+":"+tag, want.Digest)
	}
}

// checkNoCosignTags asserts that none of the tags is at dst/prefix.
func checkNoCosignTags(t *testing.T, tags map[string]ocispec.Descriptor, dst *regserver.Registry, prefix string) {
	t.Helper()
	for ref := range tags {
		name, tag, _ := strings.Cut(ref, ":")
		if got, err := repo(t, dst.Host, prefix+"/"+name).Resolve(context.Background(), tag); err == nil {
			t.Errorf("%s is at %s/%s (%s), and should not be", ref, dst.Host, prefix, got.Digest)
		}
	}
}

// receiptHolds reports whether the receipt says repo holds d.
func receiptHolds(rec *archive.Receipt, d digest.Digest, repo string) bool {
	for _, e := range rec.Content {
		if e.Digest == d && slices.Contains(e.Repositories, repo) {
			return true
		}
	}
	return false
}

// cosignRoots returns the archive's roots recorded under a cosign tag, by
// reference.
func cosignRoots(t *testing.T, dir string) map[string]digest.Digest {
	t.Helper()
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	out := map[string]digest.Digest{}
	for _, root := range ar.Roots() {
		for _, ref := range root.References {
			if strings.Contains(ref, ":sha256-") {
				out[ref] = root.Descriptor.Digest
			}
		}
	}
	return out
}

// TestSignaturesTravelWithImages: pack carries every cosign tag of every
// image and of each platform manifest of an index; inspect lists them
// under their image; unpack places them in their image's repository under
// the same tag with the same manifest; the receipt records them; a second
// unpack writes nothing; -c selects them with their image; and from that
// registry, through registries.conf under the original names, the next
// hop (an enclave) carries them again.
func TestSignaturesTravelWithImages(t *testing.T) {
	set := newSignedSet(t, 1)
	var writes writeCounter
	dst := regserver.New(t, regserver.Options{Wrap: writes.wrap})
	work := t.TempDir()
	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", set.isc, "--src-tls-verify=false", "file://"+dir), 0)

	roots := cosignRoots(t, dir)
	if len(roots) != len(set.tags) {
		t.Errorf("archive records %d cosign tags, want %d: %v", len(roots), len(set.tags), roots)
	}
	for ref, want := range set.tags {
		if got := roots[set.src.Host+"/"+ref]; got != want.Digest {
			t.Errorf("archive root %s/%s = %q, want %s", set.src.Host, ref, got, want.Digest)
		}
	}
	r := unpack(t, "inspect", "file://"+dir)
	mustCode(t, r, 0)
	app := set.s.Tags["library/app:v1"]
	mustSay(t, r,
		"+ signature "+set.src.Host+"/library/app:"+cosignTagOf(app.Digest, ".sig"),
		"+ attestation "+set.src.Host+"/library/app:"+cosignTagOf(app.Digest, ".att"),
		"(of the image)", "(of linux/amd64 sha256:", "(of linux/arm64 sha256:",
		"+ SBOM "+set.src.Host+"/team/tool:")

	rec := filepath.Join(work, "receipt.json")
	args := []string{"--from", "file://" + dir, "--dest-tls-verify=false", "--receipt", rec, "--cluster-resources", filepath.Join(work, "cr"), "docker://" + dst.Host + "/mirror"}
	mustCode(t, unpack(t, args...), 0)
	checkMirrored(t, set.src, set.s, dst, "mirror")
	checkCosignTags(t, set.src, set.tags, dst, "mirror")
	// The OCI 1.1 signature referrer travels as before.
	if ok, err := repo(t, dst.Host, "mirror/team/tool").Exists(context.Background(), set.sigReferrer); err != nil || !ok {
		t.Fatalf("signature referrer at the destination: %v %v", ok, err)
	}

	receipt, _, err := archive.LoadReceipt(rec)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	checkReceiptTrue(t, receipt, dst, ar)
	for ref, want := range set.tags {
		name, _, _ := strings.Cut(ref, ":")
		if !receiptHolds(receipt, want.Digest, "mirror/"+name) {
			t.Errorf("the receipt does not record %s (%s) in mirror/%s", ref, want.Digest, name)
		}
	}

	before := writes.n.Load()
	mustCode(t, unpack(t, args...), 0)
	if n := writes.n.Load() - before; n != 0 {
		t.Fatalf("second unpack made %d write requests, want 0", n)
	}

	// -c names team/tool only: its cosign tags come, library/app's do not.
	one := &archivetest.Sample{Tags: map[string]ocispec.Descriptor{"team/tool:v1": set.s.Tags["team/tool:v1"]}}
	mustCode(t, unpack(t, "-c", writeISC(t, one, set.src.Host), "--from", "file://"+dir, "--dest-tls-verify=false",
		"--receipt", filepath.Join(work, "sub.json"), "--cluster-resources", filepath.Join(work, "cr-sub"), "docker://"+dst.Host+"/subset"), 0)
	toolTags, appTags := map[string]ocispec.Descriptor{}, map[string]ocispec.Descriptor{}
	for ref, d := range set.tags {
		if strings.HasPrefix(ref, "team/tool:") {
			toolTags[ref] = d
		} else {
			appTags[ref] = d
		}
	}
	checkCosignTags(t, set.src, toolTags, dst, "subset")
	checkNoCosignTags(t, appTags, dst, "subset")

	// The enclave hop: pack from the first destination through a
	// registries.conf mirror, images named by their original names.
	conf := filepath.Join(work, "registries.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("[[registry]]\nprefix = \"quay.example.com\"\nlocation = \"quay.example.com\"\n[[registry.mirror]]\nlocation = %q\ninsecure = true\n", dst.Host+"/mirror")), 0o644)
	hopISC := writeISC(t, set.s, "quay.example.com")
	dir2 := filepath.Join(work, "enclave")
	mustCode(t, pack(t, "-c", hopISC, "--registries-conf", conf, "file://"+dir2), 0)
	hopRoots := cosignRoots(t, dir2)
	for ref, want := range set.tags {
		if got := hopRoots["quay.example.com/"+ref]; got != want.Digest {
			t.Errorf("enclave archive root quay.example.com/%s = %q, want %s", ref, got, want.Digest)
		}
	}
	enclave := regserver.New(t, regserver.Options{})
	mustCode(t, unpack(t, "--from", "file://"+dir2, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "enclave.json"),
		"--cluster-resources", filepath.Join(work, "cr-enclave"), "docker://"+enclave.Host+"/mirror"), 0)
	checkCosignTags(t, set.src, set.tags, enclave, "mirror")
}

// TestSignaturesDeltaAndRemove: a delta cut against the receipt carries a
// new attestation and nothing of the signatures the receiver holds;
// --remove-signatures leaves every cosign tag and the signature referrer
// behind at pack and at unpack (other referrers still travel); the mirror
// to mirror copy carries the tags too.
func TestSignaturesDeltaAndRemove(t *testing.T) {
	ctx := context.Background()
	set := newSignedSet(t, 1)
	dst := regserver.New(t, regserver.Options{})
	work := t.TempDir()
	a := filepath.Join(work, "a")
	rec := filepath.Join(work, "receipt.json")
	mustCode(t, pack(t, "-c", set.isc, "--src-tls-verify=false", "file://"+a), 0)
	mustCode(t, unpack(t, "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", rec, "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/mirror"), 0)

	// New attestations at the source: of team/tool, and of a platform
	// manifest of library/app, whose index the receiver holds (the delta
	// records the index as a prerequisite root, its manifests unlisted).
	img := set.s.Tags["team/tool:v1"]
	att := set.c.attest(t, repo(t, set.src.Host, "team/tool"), set.src.Host+"/team/tool", img.Digest, "https://example.com/builder/2")
	appRepo := repo(t, set.src.Host, "library/app")
	ib, err := content.FetchAll(ctx, appRepo, set.s.Tags["library/app:v1"])
	if err != nil {
		t.Fatal(err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(ib, &index); err != nil {
		t.Fatal(err)
	}
	child := index.Manifests[0]
	childAtt := set.c.attest(t, appRepo, set.src.Host+"/library/app", child.Digest, "https://example.com/builder/2")
	b := filepath.Join(work, "b")
	mustCode(t, pack(t, "-c", set.isc, "--src-tls-verify=false", "--base", rec, "file://"+b), 0)
	rb, err := archive.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	// Exactly the attestations' manifests, configs and envelope layers.
	want := map[digest.Digest]bool{}
	for _, x := range append(graphBlobs(t, repo(t, set.src.Host, "team/tool"), att), graphBlobs(t, appRepo, childAtt)...) {
		want[digest.FromBytes(x)] = true
	}
	if n := rb.Format().NumBlobs(); n != len(want) {
		t.Errorf("delta holds %d blobs, want the %d of the new attestations", n, len(want))
	}
	for d := range want {
		if _, ok := rb.Format().Lookup(d); !ok {
			t.Errorf("delta lacks %s of a new attestation", d)
		}
	}
	for ref, d := range set.tags {
		if _, ok := rb.Format().Lookup(d.Digest); ok {
			t.Errorf("delta holds %s, which the receipt says the receiver has", ref)
		}
	}
	mustCode(t, unpack(t, "--from", "file://"+b, "--dest-tls-verify=false", "--receipt", rec, "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/mirror"), 0)
	all := map[string]ocispec.Descriptor{"team/tool:" + cosignTagOf(img.Digest, ".att"): att, "library/app:" + cosignTagOf(child.Digest, ".att"): childAtt}
	for k, v := range set.tags {
		all[k] = v
	}
	checkCosignTags(t, set.src, all, dst, "mirror")

	// --remove-signatures at pack: no cosign tag, no signature referrer;
	// the other referrer stays.
	c := filepath.Join(work, "c")
	mustCode(t, pack(t, "-c", set.isc, "--src-tls-verify=false", "--remove-signatures", "file://"+c), 0)
	if roots := cosignRoots(t, c); len(roots) != 0 {
		t.Fatalf("--remove-signatures archive records cosign tags: %v", roots)
	}
	rc, err := archive.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.Format().Lookup(set.sigReferrer.Digest); ok {
		t.Error("--remove-signatures archive holds the signature referrer")
	}
	for _, other := range set.s.Referrers[img.Digest] {
		if _, ok := rc.Format().Lookup(other.Digest); !ok {
			t.Errorf("--remove-signatures left the referrer %s (not a signature) behind", other.Digest)
		}
	}
	clean := regserver.New(t, regserver.Options{})
	mustCode(t, unpack(t, "--from", "file://"+c, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "c.json"), "--cluster-resources", filepath.Join(work, "cr-c"), "docker://"+clean.Host+"/mirror"), 0)
	checkMirrored(t, set.src, set.s, clean, "mirror")
	checkNoCosignTags(t, set.tags, clean, "mirror")

	// --remove-signatures at unpack, from the archive that has them.
	mustCode(t, unpack(t, "--remove-signatures", "--from", "file://"+a, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "a2.json"), "--cluster-resources", filepath.Join(work, "cr-a2"), "docker://"+clean.Host+"/unsigned"), 0)
	checkMirrored(t, set.src, set.s, clean, "unsigned")
	checkNoCosignTags(t, set.tags, clean, "unsigned")
	tool := repo(t, clean.Host, "unsigned/team/tool")
	if ok, _ := tool.Exists(ctx, set.sigReferrer); ok {
		t.Error("unpack --remove-signatures pushed the signature referrer")
	}
	for _, other := range set.s.Referrers[img.Digest] {
		if ok, err := tool.Exists(ctx, other); err != nil || !ok {
			t.Errorf("unpack --remove-signatures left the referrer %s (not a signature) behind: %v", other.Digest, err)
		}
	}

	// Mirror to mirror.
	mustCode(t, pack(t, "-c", set.isc, "--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+dst.Host+"/m2m"), 0)
	checkCosignTags(t, set.src, all, dst, "m2m")
}

// TestSignaturesOfDigestOnlySource: an image named by digest alone still
// gets its signatures, placed beside its digest tag.
func TestSignaturesOfDigestOnlySource(t *testing.T) {
	set := newSignedSet(t, 1)
	app := set.s.Tags["library/app:v1"]
	work := t.TempDir()
	isc := filepath.Join(work, "isc.yaml")
	os.WriteFile(isc, []byte(fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  - name: %s/library/app@%s\n", set.src.Host, app.Digest)), 0o644)
	dir := filepath.Join(work, "content")
	appTags := map[string]ocispec.Descriptor{}
	for ref, d := range set.tags {
		if strings.HasPrefix(ref, "library/app:") {
			appTags[ref] = d
		}
	}
	if len(appTags) != 4 {
		t.Fatalf("fixture: %d cosign tags of library/app, want 4", len(appTags))
	}
	// Dry runs name each cosign tag, source -> destination.
	r := pack(t, "-c", isc, "--src-tls-verify=false", "--dry-run", "file://"+dir)
	mustCode(t, r, 0)
	for ref, d := range appTags {
		mustSay(t, r, set.src.Host+"/"+ref+" -> "+ref+"  "+d.Digest.String())
	}
	mustCode(t, pack(t, "-c", isc, "--src-tls-verify=false", "file://"+dir), 0)
	dst := regserver.New(t, regserver.Options{})
	args := []string{"--from", "file://" + dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", filepath.Join(work, "cr"), "docker://" + dst.Host + "/mirror"}
	r = unpack(t, append([]string{"--dry-run"}, args...)...)
	mustCode(t, r, 0)
	for ref, d := range appTags {
		_, tag, _ := strings.Cut(ref, ":")
		mustSay(t, r, set.src.Host+"/"+ref+" -> "+dst.Host+"/mirror/library/app:"+tag+"  "+d.Digest.String())
	}
	checkNoCosignTags(t, appTags, dst, "mirror")
	mustCode(t, unpack(t, args...), 0)
	checkCosignTags(t, set.src, appTags, dst, "mirror")
}

// TestSignatureTagNotAManifest: a cosign tag that names a blob (an OCI
// layout can tag anything) is reported and skipped; the image and its real
// signature travel.
func TestSignatureTagNotAManifest(t *testing.T) {
	ctx := context.Background()
	work := t.TempDir()
	layoutDir := filepath.Join(work, "layout")
	store, err := oci.New(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := archivetest.Image(ctx, store, "amd64", archivetest.Blob(7, 20<<10, true))
	if err != nil {
		t.Fatal(err)
	}
	img.Platform = nil
	if err := store.Tag(ctx, img, "v1"); err != nil {
		t.Fatal(err)
	}
	sig := newCosigner(t).sign(t, store, "example.com/layout", img.Digest)
	blob := pushBlob(t, store, "application/octet-stream", []byte("not a manifest"))
	if err := store.Tag(ctx, blob, cosignTagOf(img.Digest, ".att")); err != nil {
		t.Fatal(err)
	}
	isc := filepath.Join(work, "isc.yaml")
	os.WriteFile(isc, []byte(fmt.Sprintf("kind: ImageSetConfiguration\napiVersion: mirror.openshift.io/v2alpha1\nmirror:\n  additionalImages:\n  - name: oci://%s:v1\n    targetRepo: team/from-layout\n", layoutDir)), 0o644)
	dir := filepath.Join(work, "content")
	r := pack(t, "-c", isc, "file://"+dir)
	mustCode(t, r, 0)
	mustSay(t, r, cosignTagOf(img.Digest, ".att"), "not a manifest: skipped")
	roots := cosignRoots(t, dir)
	if len(roots) != 1 {
		t.Fatalf("archive cosign tags %v, want the .sig alone", roots)
	}
	dst := regserver.New(t, regserver.Options{})
	mustCode(t, unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"), "--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/mirror"), 0)
	d := repo(t, dst.Host, "mirror/team/from-layout")
	if got, err := d.Resolve(ctx, cosignTagOf(img.Digest, ".sig")); err != nil || got.Digest != sig.Digest {
		t.Fatalf("signature at the destination: %v (%v), want %s", got.Digest, err, sig.Digest)
	}
	if _, err := d.Resolve(ctx, cosignTagOf(img.Digest, ".att")); err == nil {
		t.Fatal("the tag naming a blob reached the destination")
	}
}

// TestSignaturesOfReleases: the cosign tags of a release payload and of a
// component travel with them to the oc-mirror destinations
// (openshift/release-images, openshift/release), under the same tags.
func TestSignaturesOfReleases(t *testing.T) {
	w := newReleaseWorld(t)
	t.Setenv(release.EnvUpdateURL, "")
	t.Setenv(release.EnvSignatureKey, "")
	t.Setenv(release.EnvSignatureURL, w.sigs.URL)
	c := newCosigner(t)
	p := w.pushed["4.15.5"]
	payloadSig := c.sign(t, repo(t, w.inet.Host, "openshift-release-dev/ocp-release"), release.OCPReleaseRepo, p.Descriptor.Digest)
	var name, comp string
	for name, comp = range p.Components {
		break
	}
	compDigest := digest.Digest(comp[strings.LastIndex(comp, "@")+1:])
	compAtt := c.attest(t, repo(t, w.inet.Host, "openshift-release-dev/ocp-v4.0-art-dev"), release.OCPComponentRepo, compDigest, "https://example.com/builder")

	work := t.TempDir()
	conf := writeFile(t, work, "registries.conf", fmt.Sprintf(
		"[[registry]]\nprefix = \"quay.io/openshift-release-dev\"\nlocation = \"%s/openshift-release-dev\"\ninsecure = true\n", w.inet.Host))
	dir := filepath.Join(work, "content")
	mustCode(t, pack(t, "-c", platformISC(t, "4.15.5", "4.15.5", false), "--registries-conf", conf, "--update-url", w.graph.URL,
		"--release-key", w.keyFile, "file://"+dir), 0)
	dst := regserver.New(t, regserver.Options{})
	mustCode(t, unpack(t, "--from", "file://"+dir, "--dest-tls-verify=false", "--receipt", filepath.Join(work, "r.json"),
		"--cluster-resources", filepath.Join(work, "cr"), "docker://"+dst.Host+"/mirror"), 0)
	checkReleases(t, w, dst.Host, "mirror", []string{"4.15.5"}, nil)
	ctx := context.Background()
	for _, c := range []struct {
		repo, tag string
		want      ocispec.Descriptor
	}{
		{"mirror/" + release.ReleaseImagesRepo, cosignTagOf(p.Descriptor.Digest, ".sig"), payloadSig},
		{"mirror/" + release.ComponentsRepo, cosignTagOf(compDigest, ".att"), compAtt},
	} {
		got, err := repo(t, dst.Host, c.repo).Resolve(ctx, c.tag)
		if err != nil || got.Digest != c.want.Digest {
			t.Errorf("%s:%s (component %s) = %v, %v; want %s", c.repo, c.tag, name, got.Digest, err, c.want.Digest)
		}
	}
}
