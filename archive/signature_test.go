package archive_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/archive"
	"github.com/enclave-mirror/enclave/format"
)

// sigBuildArchive writes a one-image archive (config, one layer, manifest,
// tagged example.com/app:1) into dir and returns it opened. seed makes the
// content, and so the archive digest, differ between archives.
func sigBuildArchive(t *testing.T, dir, seed string, opts ...archive.CreateOption) *archive.Reader {
	t.Helper()
	ctx := context.Background()
	w, err := archive.Create(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	push := func(mt string, b []byte) ocispec.Descriptor {
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := w.Push(ctx, d, bytes.NewReader(b)); err != nil {
			w.Abort()
			t.Fatal(err)
		}
		return d
	}
	cfg := push(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","seed":"`+seed+`"}`))
	layer := push(ocispec.MediaTypeImageLayer, []byte("layer bytes of "+seed))
	man, err := json.Marshal(ocispec.Manifest{Versioned: sigSpecVersion, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	md := push(ocispec.MediaTypeImageManifest, man)
	if err := w.Tag(ctx, md, "example.com/app:1"); err != nil {
		w.Abort()
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return openArchive(t, dir)
}

var sigSpecVersion = specs.Versioned{SchemaVersion: 2}

// openArchive opens the archive in dir for the test, closed at its end.
func openArchive(t *testing.T, dir string) *archive.Reader {
	t.Helper()
	r, err := archive.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func sigNewKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func sigSign(t *testing.T, dir string, r *archive.Reader, key ed25519.PrivateKey) {
	t.Helper()
	if err := archive.Sign(dir, r, key); err != nil {
		t.Fatal(err)
	}
}

// sigVerifiedOpen is the receiver's procedure of spec/SIGNATURE.md: signature
// file, statement against the final footer, Open (which hashes the index
// before parsing it), then lineage and sequence against the manifest.
func sigVerifiedOpen(dir string, check archive.SignatureCheck) (*archive.SignatureResult, *archive.Reader, error) {
	res, err := archive.VerifySignatureBeforeOpen(dir, check)
	if err != nil {
		return nil, nil, err
	}
	r, err := archive.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	if res != nil {
		m := r.Manifest()
		if err := res.Statement.Match(r.ID(), r.Digest(), m.Lineage, m.Sequence); err != nil {
			r.Close()
			return nil, nil, err
		}
	}
	return res, r, nil
}

// sigFileJSON is the test's independent view of signature.json.
type sigFileJSON struct {
	Statement  string `json:"statement"`
	Signatures []struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	} `json:"signatures"`
}

func sigReadFile(t *testing.T, dir string) (sigFileJSON, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, archive.SignatureFileName))
	if err != nil {
		t.Fatal(err)
	}
	var sf sigFileJSON
	if err := json.Unmarshal(b, &sf); err != nil {
		t.Fatal(err)
	}
	return sf, b
}

// sigWriteFile writes a signature file over statement signed by keys.
func sigWriteFile(t *testing.T, dir string, statement []byte, keys ...ed25519.PrivateKey) {
	t.Helper()
	type entry struct {
		KeyID string `json:"keyid"`
		Sig   []byte `json:"sig"`
	}
	sf := struct {
		Statement  []byte  `json:"statement"`
		Signatures []entry `json:"signatures"`
	}{Statement: statement}
	for _, k := range keys {
		sf.Signatures = append(sf.Signatures, entry{archive.KeyID(k.Public().(ed25519.PublicKey)), ed25519.Sign(k, statement)})
	}
	b, err := json.Marshal(sf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, archive.SignatureFileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSignVerify(t *testing.T) {
	dir := t.TempDir()
	r := sigBuildArchive(t, dir, "a")
	pub, priv := sigNewKey(t)
	before := time.Now().UTC().Truncate(time.Second)
	sigSign(t, dir, r, priv)

	// The statement is the canonical document of spec/SIGNATURE.md.
	sf, _ := sigReadFile(t, dir)
	stmt, err := base64.StdEncoding.DecodeString(sf.Statement)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Manifest()
	if m.Lineage == "" || m.Sequence != 1 {
		t.Fatalf("archive lineage %q sequence %d, want a new lineage at 1", m.Lineage, m.Sequence)
	}
	var created struct{ Created string }
	json.Unmarshal(stmt, &created)
	want := fmt.Sprintf(`{"mediaType":"application/vnd.enclave.signature.v1+json","archiveID":"%s","archiveDigest":"%s","lineage":"%s","sequence":1,"created":"%s"}`,
		r.ID(), r.Digest(), m.Lineage, created.Created)
	if string(stmt) != want {
		t.Fatalf("statement\n%s\nwant\n%s", stmt, want)
	}
	ct, err := time.Parse(time.RFC3339, created.Created)
	if err != nil || ct.Before(before) || ct.After(time.Now().Add(time.Second)) || !strings.HasSuffix(created.Created, "Z") {
		t.Fatalf("created %q (%v), want UTC now", created.Created, err)
	}
	if len(sf.Signatures) != 1 || sf.Signatures[0].KeyID != archive.KeyID(pub) {
		t.Fatalf("signatures %+v, want one by %s", sf.Signatures, archive.KeyID(pub))
	}
	sig, _ := base64.StdEncoding.DecodeString(sf.Signatures[0].Sig)
	if !ed25519.Verify(pub, stmt, sig) {
		t.Fatal("signature in the file does not verify over the statement bytes")
	}
	// Written atomically: nothing but the volumes, the lock and the file.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); strings.Contains(n, ".tmp") {
			t.Errorf("temporary %s left behind", n)
		}
	}

	check := archive.SignatureCheck{Trusted: []ed25519.PublicKey{pub}, Required: true}
	res, r2, err := sigVerifiedOpen(dir, check)
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if res.KeyID != archive.KeyID(pub) || res.Statement.ArchiveDigest != r.Digest() || res.Statement.ArchiveID != r.ID().String() ||
		res.Statement.Lineage != m.Lineage || res.Statement.Sequence != 1 || !res.Statement.Created.Equal(ct) {
		t.Fatalf("result %+v", res)
	}
	res2, err := archive.VerifySignature(dir, r.ID(), r.Digest(), m.Lineage, m.Sequence, check)
	if err != nil || res2.KeyID != res.KeyID {
		t.Fatalf("VerifySignature: %+v, %v", res2, err)
	}
	st, kid, err := archive.VerifySignatureFile(dir, check)
	if err != nil || kid != archive.KeyID(pub) || st.ArchiveDigest != r.Digest() {
		t.Fatalf("VerifySignatureFile: %+v %q %v", st, kid, err)
	}
	// The statement binds lineage and sequence too.
	if _, err := archive.VerifySignature(dir, r.ID(), r.Digest(), m.Lineage, 2, check); !errors.Is(err, archive.ErrBadSignature) {
		t.Fatalf("other sequence: %v, want ErrBadSignature", err)
	}
	other := strings.Repeat("ab", 16)
	if _, err := archive.VerifySignature(dir, r.ID(), r.Digest(), other, 1, check); !errors.Is(err, archive.ErrBadSignature) {
		t.Fatalf("other lineage: %v, want ErrBadSignature", err)
	}
}

func TestSignCosign(t *testing.T) {
	dir := t.TempDir()
	r := sigBuildArchive(t, dir, "a")
	pub1, priv1 := sigNewKey(t)
	pub2, priv2 := sigNewKey(t)
	sigSign(t, dir, r, priv1)
	_, first := sigReadFile(t, dir)

	// Signing again with the same key changes nothing (same statement
	// bytes, deterministic Ed25519).
	sigSign(t, dir, r, priv1)
	if _, again := sigReadFile(t, dir); !bytes.Equal(first, again) {
		t.Fatalf("signing twice changed the file:\n%s\n%s", first, again)
	}

	// A second signer signs the same statement bytes.
	sigSign(t, dir, r, priv2)
	sf1, _ := sigReadFile(t, dir)
	sf0 := sigFileJSON{}
	json.Unmarshal(first, &sf0)
	if sf1.Statement != sf0.Statement || len(sf1.Signatures) != 2 {
		t.Fatalf("co-signed file: %+v", sf1)
	}
	for _, pub := range []ed25519.PublicKey{pub1, pub2} {
		res, err := archive.VerifySignature(dir, r.ID(), r.Digest(), r.Manifest().Lineage, r.Manifest().Sequence,
			archive.SignatureCheck{Trusted: []ed25519.PublicKey{pub}, Required: true})
		if err != nil || res.KeyID != archive.KeyID(pub) {
			t.Fatalf("verify with %s: %+v %v", archive.KeyID(pub), res, err)
		}
	}
}

func TestSignRefusesOtherArchive(t *testing.T) {
	_, priv := sigNewKey(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	ra := sigBuildArchive(t, dirA, "a")
	rb := sigBuildArchive(t, dirB, "b")
	// r is not the archive in dir.
	if err := archive.Sign(dirA, rb, priv); err == nil {
		t.Fatal("signed a directory with a reader of another directory")
	}
	// A signature file left over from another archive is not replaced.
	sigSign(t, dirA, ra, priv)
	old, _ := os.ReadFile(filepath.Join(dirA, archive.SignatureFileName))
	if err := os.WriteFile(filepath.Join(dirB, archive.SignatureFileName), old, 0o644); err != nil {
		t.Fatal(err)
	}
	err := archive.Sign(dirB, rb, priv)
	if !errors.Is(err, archive.ErrBadSignature) || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("Sign over another archive's signature.json: %v", err)
	}
	if now, _ := os.ReadFile(filepath.Join(dirB, archive.SignatureFileName)); !bytes.Equal(now, old) {
		t.Fatal("signature.json was changed")
	}
}

func TestVerifySignatureTampered(t *testing.T) {
	pub, priv := sigNewKey(t)
	_, stranger := sigNewKey(t)
	check := archive.SignatureCheck{Trusted: []ed25519.PublicKey{pub}, Required: true}

	tests := []struct {
		name    string
		tamper  func(t *testing.T, dir string, stmt []byte)
		wantErr error
	}{
		{"statement byte", func(t *testing.T, dir string, stmt []byte) {
			// Keep the signature, change one statement byte (the sequence).
			sf, _ := sigReadFile(t, dir)
			b := bytes.Replace(stmt, []byte(`"sequence":1`), []byte(`"sequence":9`), 1)
			sf.Statement = base64.StdEncoding.EncodeToString(b)
			out, _ := json.Marshal(sf)
			os.WriteFile(filepath.Join(dir, archive.SignatureFileName), out, 0o644)
		}, archive.ErrBadSignature},
		{"signature byte", func(t *testing.T, dir string, stmt []byte) {
			sf, _ := sigReadFile(t, dir)
			sig, _ := base64.StdEncoding.DecodeString(sf.Signatures[0].Sig)
			sig[10] ^= 1
			sf.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
			out, _ := json.Marshal(sf)
			os.WriteFile(filepath.Join(dir, archive.SignatureFileName), out, 0o644)
		}, archive.ErrBadSignature},
		{"signature truncated", func(t *testing.T, dir string, stmt []byte) {
			sf, _ := sigReadFile(t, dir)
			sf.Signatures[0].Sig = sf.Signatures[0].Sig[:40]
			out, _ := json.Marshal(sf)
			os.WriteFile(filepath.Join(dir, archive.SignatureFileName), out, 0o644)
		}, archive.ErrBadSignature},
		{"statement base64 with a line break", func(t *testing.T, dir string, stmt []byte) {
			// Go's base64 skips CR and LF: the same statement, encoded
			// in a form SIGNATURE.md 4.1 does not allow.
			sf, _ := sigReadFile(t, dir)
			sf.Statement = sf.Statement[:40] + "\r\n" + sf.Statement[40:]
			out, _ := json.Marshal(sf)
			os.WriteFile(filepath.Join(dir, archive.SignatureFileName), out, 0o644)
		}, archive.ErrBadSignature},
		{"signature base64 with non-zero pad bits", func(t *testing.T, dir string, stmt []byte) {
			// 64 bytes end in one byte and "==": the last character's
			// low 4 bits are padding. Setting one decodes to the same
			// (valid) signature in a lenient decoder.
			const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			sf, _ := sigReadFile(t, dir)
			s := sf.Signatures[0].Sig
			i := strings.IndexByte(alphabet, s[85])
			sf.Signatures[0].Sig = s[:85] + string(alphabet[i|1]) + s[86:]
			out, _ := json.Marshal(sf)
			os.WriteFile(filepath.Join(dir, archive.SignatureFileName), out, 0o644)
		}, archive.ErrBadSignature},
		{"file cut short", func(t *testing.T, dir string, stmt []byte) {
			_, b := sigReadFile(t, dir)
			os.WriteFile(filepath.Join(dir, archive.SignatureFileName), b[:len(b)/2], 0o644)
		}, archive.ErrBadSignature},
		{"no signatures", func(t *testing.T, dir string, stmt []byte) {
			sigWriteFile(t, dir, stmt)
		}, archive.ErrBadSignature},
		{"non-canonical statement signed by a trusted key", func(t *testing.T, dir string, stmt []byte) {
			b := bytes.Replace(stmt, []byte(`,"sequence"`), []byte(`, "sequence"`), 1)
			sigWriteFile(t, dir, b, priv)
		}, archive.ErrBadSignature},
		{"duplicate member signed by a trusted key", func(t *testing.T, dir string, stmt []byte) {
			// Go keeps the last member (the true sequence); a reader keeping
			// the first would see 9. Only the canonical check refuses it.
			b := bytes.Replace(stmt, []byte(`,"sequence":1`), []byte(`,"sequence":9,"sequence":1`), 1)
			sigWriteFile(t, dir, b, priv)
		}, archive.ErrBadSignature},
		{"statement changed and re-signed by a stranger", func(t *testing.T, dir string, stmt []byte) {
			b := bytes.Replace(stmt, []byte(`"sequence":1`), []byte(`"sequence":9`), 1)
			sigWriteFile(t, dir, b, stranger)
		}, archive.ErrUntrustedKey},
		{"statement changed, trusted signature kept beside a stranger's", func(t *testing.T, dir string, stmt []byte) {
			b := bytes.Replace(stmt, []byte(`"sequence":1`), []byte(`"sequence":9`), 1)
			sigWriteFile(t, dir, b, stranger, priv)
			// Replace the trusted key's (now valid) signature with the one
			// over the original statement.
			sf, _ := sigReadFile(t, dir)
			for i := range sf.Signatures {
				if sf.Signatures[i].KeyID == archive.KeyID(pub) {
					sf.Signatures[i].Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, stmt))
				}
			}
			out, _ := json.Marshal(sf)
			os.WriteFile(filepath.Join(dir, archive.SignatureFileName), out, 0o644)
		}, archive.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := sigBuildArchive(t, dir, "a")
			sigSign(t, dir, r, priv)
			sf, _ := sigReadFile(t, dir)
			stmt, _ := base64.StdEncoding.DecodeString(sf.Statement)
			tt.tamper(t, dir, stmt)
			_, r2, err := sigVerifiedOpen(dir, check)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if r2 != nil {
				t.Fatal("archive opened")
			}
			// Not requiring a signature does not tolerate a bad one.
			_, _, err = sigVerifiedOpen(dir, archive.SignatureCheck{Trusted: check.Trusted})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("not required: err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// sigForgeReference rewrites a reference in the manifest of the final volume
// at path and recomputes every hash and checksum up the chain (manifest
// frame XXH64, manifest hash in the index, index XXH64, index hash in the
// footer, footer check), as an attacker would: the result is a consistent
// archive that Open accepts, with another archive digest.
func sigForgeReference(t *testing.T, path, from, to string) {
	t.Helper()
	if len(from) != len(to) {
		t.Fatal("sigForgeReference keeps lengths")
	}
	le := binary.LittleEndian
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ft := b[len(b)-format.FooterSize:]
	ioff, ilen := le.Uint64(ft[88:]), le.Uint64(ft[96:])
	idx := b[ioff : ioff+ilen]
	body := idx[12 : len(idx)-8]
	moff, mlen := le.Uint64(body[56:]), le.Uint64(body[64:])
	man := b[moff : moff+mlen]
	i := bytes.Index(man, []byte(from))
	if i < 0 {
		t.Fatalf("%q not in the manifest", from)
	}
	copy(man[i:], to)
	le.PutUint64(man[len(man)-8:], xxhash.Sum64(man[8:len(man)-8]))
	mh := sha256.Sum256(man)
	copy(body[72:104], mh[:])
	le.PutUint64(idx[len(idx)-8:], xxhash.Sum64(idx[8:len(idx)-8]))
	ih := sha256.Sum256(idx)
	copy(ft[104:136], ih[:])
	le.PutUint64(ft[136:], xxhash.Sum64(append(append([]byte(nil), ft[:136]...), ft[144:]...)))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifySignatureArchiveChanged(t *testing.T) {
	pub, priv := sigNewKey(t)
	check := archive.SignatureCheck{Trusted: []ed25519.PublicKey{pub}, Required: true}

	t.Run("manifest forged consistently", func(t *testing.T) {
		dir := t.TempDir()
		r := sigBuildArchive(t, dir, "a")
		sigSign(t, dir, r, priv)
		signed := r.Digest()
		r.Close()
		sigForgeReference(t, filepath.Join(dir, archive.VolumeName(1)), "example.com/app:1", "example.com/bad:1")
		// The forgery is a well-formed archive with another digest: only
		// the signature can tell.
		forged := openArchive(t, dir)
		if got := forged.Roots()[0].References[0]; got != "example.com/bad:1" || forged.Digest() == signed || forged.ID() != r.ID() {
			t.Fatalf("forgery: reference %q, digest %s (signed %s)", got, forged.Digest(), signed)
		}
		_, err := archive.VerifySignatureBeforeOpen(dir, check)
		if !errors.Is(err, archive.ErrBadSignature) || !strings.Contains(err.Error(), string(signed)) {
			t.Fatalf("before open: %v, want ErrBadSignature naming %s", err, signed)
		}
		m := forged.Manifest()
		if _, err := archive.VerifySignature(dir, forged.ID(), forged.Digest(), m.Lineage, m.Sequence, check); !errors.Is(err, archive.ErrBadSignature) {
			t.Fatalf("after open: %v, want ErrBadSignature", err)
		}
	})

	t.Run("volumes of another archive", func(t *testing.T) {
		dirA, dirB := t.TempDir(), t.TempDir()
		ra := sigBuildArchive(t, dirA, "a")
		rb := sigBuildArchive(t, dirB, "b")
		sigSign(t, dirA, ra, priv)
		ra.Close()
		vb, err := os.ReadFile(filepath.Join(dirB, archive.VolumeName(1)))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dirA, archive.VolumeName(1)), vb, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = archive.VerifySignatureBeforeOpen(dirA, check)
		if !errors.Is(err, archive.ErrBadSignature) || !strings.Contains(err.Error(), rb.ID().String()) {
			t.Fatalf("%v, want ErrBadSignature naming %s", err, rb.ID())
		}
	})

	t.Run("index byte changed", func(t *testing.T) {
		// The footer still matches the statement; Open refuses the index
		// by its hash before parsing it.
		dir := t.TempDir()
		r := sigBuildArchive(t, dir, "a")
		sigSign(t, dir, r, priv)
		r.Close()
		p := filepath.Join(dir, archive.VolumeName(1))
		b, _ := os.ReadFile(p)
		f, err := format.ReadFooter(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		b[f.IndexOffset+12+8] ^= 0x01 // the archive id in the index header
		os.WriteFile(p, b, 0o644)
		_, r2, err := sigVerifiedOpen(dir, check)
		if !errors.Is(err, format.ErrDigest) || r2 != nil {
			t.Fatalf("%v, want format.ErrDigest", err)
		}
	})

	t.Run("multi-volume", func(t *testing.T) {
		// Every volume is committed: a signed archive of several volumes
		// verifies, and the statement names the digest that covers them.
		dir := t.TempDir()
		ctx := context.Background()
		w, err := archive.Create(dir, archive.WithVolumeSize(format.MinVolumeSize(format.MinChunkSize)), archive.WithChunkSize(format.MinChunkSize))
		if err != nil {
			t.Fatal(err)
		}
		var layers []ocispec.Descriptor
		for i := range 3 {
			b := bytes.Repeat([]byte{byte(i)}, 1)
			b = append(b, make([]byte, 200<<10)...)
			rand.Read(b)
			d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(b), Size: int64(len(b))}
			if err := w.Push(ctx, d, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			layers = append(layers, d)
		}
		cb := []byte(`{}`)
		cfg := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cb), Size: int64(len(cb))}
		w.Push(ctx, cfg, bytes.NewReader(cb))
		mb, _ := json.Marshal(ocispec.Manifest{Versioned: sigSpecVersion, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers})
		md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mb), Size: int64(len(mb))}
		if err := w.Push(ctx, md, bytes.NewReader(mb)); err != nil {
			t.Fatal(err)
		}
		if err := w.Tag(ctx, md, "example.com/big:1"); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r := openArchive(t, dir)
		if n := len(r.Volumes()); n < 2 {
			t.Fatalf("%d volumes, want several", n)
		}
		sigSign(t, dir, r, priv)
		res, r2, err := sigVerifiedOpen(dir, check)
		if err != nil {
			t.Fatal(err)
		}
		r2.Close()
		if res.Statement.ArchiveDigest != r.Digest() {
			t.Fatalf("statement digest %s, archive %s", res.Statement.ArchiveDigest, r.Digest())
		}
	})
}

func TestVerifySignatureUnsigned(t *testing.T) {
	dir := t.TempDir()
	r := sigBuildArchive(t, dir, "a")
	pub, _ := sigNewKey(t)
	m := r.Manifest()

	_, err := archive.VerifySignature(dir, r.ID(), r.Digest(), m.Lineage, m.Sequence, archive.SignatureCheck{Trusted: []ed25519.PublicKey{pub}, Required: true})
	if !errors.Is(err, archive.ErrUnsigned) {
		t.Fatalf("required: %v, want ErrUnsigned", err)
	}
	if _, err := archive.VerifySignatureBeforeOpen(dir, archive.SignatureCheck{Trusted: []ed25519.PublicKey{pub}, Required: true}); !errors.Is(err, archive.ErrUnsigned) {
		t.Fatalf("required, before open: %v, want ErrUnsigned", err)
	}
	res, err := archive.VerifySignature(dir, r.ID(), r.Digest(), m.Lineage, m.Sequence, archive.SignatureCheck{Trusted: []ed25519.PublicKey{pub}})
	if res != nil || err != nil {
		t.Fatalf("not required: %+v, %v; want nil, nil", res, err)
	}
	res, err = archive.VerifySignature(dir, r.ID(), r.Digest(), m.Lineage, m.Sequence, archive.SignatureCheck{})
	if res != nil || err != nil {
		t.Fatalf("zero check: %+v, %v; want nil, nil", res, err)
	}
	// Required without a key to check with is a refusal, not a pass.
	if _, err := archive.VerifySignature(dir, r.ID(), r.Digest(), m.Lineage, m.Sequence, archive.SignatureCheck{Required: true}); err == nil {
		t.Fatal("required with no trusted keys passed")
	}
}

func TestVerifySignatureUntrustedKey(t *testing.T) {
	dir := t.TempDir()
	r := sigBuildArchive(t, dir, "a")
	pub1, priv1 := sigNewKey(t)
	pub2, _ := sigNewKey(t)
	sigSign(t, dir, r, priv1)
	m := r.Manifest()
	_, err := archive.VerifySignature(dir, r.ID(), r.Digest(), m.Lineage, m.Sequence, archive.SignatureCheck{Trusted: []ed25519.PublicKey{pub2}, Required: true})
	if !errors.Is(err, archive.ErrUntrustedKey) {
		t.Fatalf("%v, want ErrUntrustedKey", err)
	}
	var ue *archive.UntrustedKeyError
	if !errors.As(err, &ue) || len(ue.KeyIDs) != 1 || ue.KeyIDs[0] != archive.KeyID(pub1) {
		t.Fatalf("%#v, want key id %s", err, archive.KeyID(pub1))
	}
	if !strings.Contains(err.Error(), archive.KeyID(pub1)) {
		t.Fatalf("message %q does not name %s", err, archive.KeyID(pub1))
	}
}

func TestVerifySignatureTwoSigners(t *testing.T) {
	dir := t.TempDir()
	r := sigBuildArchive(t, dir, "a")
	_, privA := sigNewKey(t)
	pubB, privB := sigNewKey(t)
	sigSign(t, dir, r, privA)
	sigSign(t, dir, r, privB)
	m := r.Manifest()
	res, err := archive.VerifySignature(dir, r.ID(), r.Digest(), m.Lineage, m.Sequence, archive.SignatureCheck{Trusted: []ed25519.PublicKey{pubB}, Required: true})
	if err != nil || res.KeyID != archive.KeyID(pubB) {
		t.Fatalf("%+v, %v; want signed by %s", res, err, archive.KeyID(pubB))
	}
	// A signature by a trusted key that does not verify refuses the
	// archive even though another signature does verify.
	pubC, privC := sigNewKey(t)
	sf, _ := sigReadFile(t, dir)
	stmt, _ := base64.StdEncoding.DecodeString(sf.Statement)
	sigWriteFile(t, dir, stmt, privB, privC)
	sf, _ = sigReadFile(t, dir)
	for i := range sf.Signatures {
		if sf.Signatures[i].KeyID == archive.KeyID(pubC) {
			sf.Signatures[i].Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(privC, []byte("something else")))
		}
	}
	out, _ := json.Marshal(sf)
	os.WriteFile(filepath.Join(dir, archive.SignatureFileName), out, 0o644)
	_, err = archive.VerifySignature(dir, r.ID(), r.Digest(), m.Lineage, m.Sequence, archive.SignatureCheck{Trusted: []ed25519.PublicKey{pubB, pubC}, Required: true})
	if !errors.Is(err, archive.ErrBadSignature) || !strings.Contains(err.Error(), archive.KeyID(pubC)) {
		t.Fatalf("%v, want ErrBadSignature naming %s", err, archive.KeyID(pubC))
	}
}

func TestSignKeyID(t *testing.T) {
	// The key id is the SHA-256 of the 44-byte PKIX DER of spec/SIGNATURE.md.
	pub, _ := sigNewKey(t)
	der, _ := hex.DecodeString("302a300506032b6570032100")
	sum := sha256.Sum256(append(der, pub...))
	if got, want := archive.KeyID(pub), "sha256:"+hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("KeyID = %s, want %s", got, want)
	}
	// Test vector of spec/SIGNATURE.md: the RFC 8032 section 7.1 TEST 1 key
	// in the PEM openssl writes for it.
	dir := t.TempDir()
	kp := sigWriteText(t, dir, "rfc8032.pem", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n")
	pp := sigWriteText(t, dir, "rfc8032.pub", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n")
	priv, err := archive.LoadPrivateKey(kp)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(priv.Seed()); got != "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60" {
		t.Fatalf("seed %s", got)
	}
	pubs, err := archive.LoadPublicKeys(pp)
	if err != nil || len(pubs) != 1 || !pubs[0].Equal(priv.Public()) {
		t.Fatalf("public key %v, %v", pubs, err)
	}
	if got, want := archive.KeyID(pubs[0]), "sha256:06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9"; got != want {
		t.Fatalf("KeyID of the RFC 8032 key = %s, want %s", got, want)
	}
	if got := archive.KeyID(pub[:31]); got != "" {
		t.Fatalf("KeyID of a short key = %q", got)
	}
}

func sigWritePEM(t *testing.T, dir, name string, blocks ...*pem.Block) string {
	t.Helper()
	var buf bytes.Buffer
	for _, b := range blocks {
		pem.Encode(&buf, b)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignLoadKeys(t *testing.T) {
	t.Run("go", func(t *testing.T) {
		dir := t.TempDir()
		pub, priv := sigNewKey(t)
		p8, _ := x509.MarshalPKCS8PrivateKey(priv)
		px, _ := x509.MarshalPKIXPublicKey(pub)
		kp := sigWritePEM(t, dir, "key.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: p8})
		pp := sigWritePEM(t, dir, "key.pub", &pem.Block{Type: "PUBLIC KEY", Bytes: px})
		k, err := archive.LoadPrivateKey(kp)
		if err != nil || !k.Equal(priv) {
			t.Fatalf("LoadPrivateKey: %v", err)
		}
		ks, err := archive.LoadPublicKeys(pp)
		if err != nil || len(ks) != 1 || !ks[0].Equal(pub) {
			t.Fatalf("LoadPublicKeys: %v %v", ks, err)
		}
		// A keyring: several blocks in a file, duplicates across files once.
		pub2, _ := sigNewKey(t)
		px2, _ := x509.MarshalPKIXPublicKey(pub2)
		ring := sigWritePEM(t, dir, "ring.pub", &pem.Block{Type: "PUBLIC KEY", Bytes: px2}, &pem.Block{Type: "PUBLIC KEY", Bytes: px})
		ks, err = archive.LoadPublicKeys(pp, ring)
		if err != nil || len(ks) != 2 || !ks[0].Equal(pub) || !ks[1].Equal(pub2) {
			t.Fatalf("keyring: %d keys, %v", len(ks), err)
		}
	})

	t.Run("openssl", func(t *testing.T) {
		if _, err := exec.LookPath("openssl"); err != nil {
			t.Skip("openssl not on PATH")
		}
		dir := t.TempDir()
		run := func(args ...string) {
			t.Helper()
			if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		kp, pp := filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub")
		run("genpkey", "-algorithm", "ed25519", "-out", kp)
		run("pkey", "-in", kp, "-pubout", "-out", pp)
		priv, err := archive.LoadPrivateKey(kp)
		if err != nil {
			t.Fatal(err)
		}
		pubs, err := archive.LoadPublicKeys(pp)
		if err != nil || len(pubs) != 1 || !pubs[0].Equal(priv.Public()) {
			t.Fatalf("public key %v, %v; want the private key's", pubs, err)
		}
		// The key id is the SHA-256 of the DER openssl writes.
		der := filepath.Join(dir, "key.der")
		run("pkey", "-pubin", "-in", pp, "-outform", "DER", "-out", der)
		db, _ := os.ReadFile(der)
		sum := sha256.Sum256(db)
		if got, want := archive.KeyID(pubs[0]), "sha256:"+hex.EncodeToString(sum[:]); got != want {
			t.Fatalf("KeyID = %s, openssl DER gives %s", got, want)
		}
		// A signature made by Sign verifies with openssl over the statement
		// bytes.
		adir := t.TempDir()
		r := sigBuildArchive(t, adir, "a")
		sigSign(t, adir, r, priv)
		sf, _ := sigReadFile(t, adir)
		stmt, _ := base64.StdEncoding.DecodeString(sf.Statement)
		sig, _ := base64.StdEncoding.DecodeString(sf.Signatures[0].Sig)
		os.WriteFile(filepath.Join(dir, "stmt"), stmt, 0o644)
		os.WriteFile(filepath.Join(dir, "sig"), sig, 0o644)
		run("pkeyutl", "-verify", "-pubin", "-inkey", pp, "-rawin", "-in", filepath.Join(dir, "stmt"), "-sigfile", filepath.Join(dir, "sig"))
		// An encrypted key is refused with a clear message.
		ep := filepath.Join(dir, "enc.pem")
		run("genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:x", "-out", ep)
		if _, err := archive.LoadPrivateKey(ep); !errors.Is(err, archive.ErrKey) || !strings.Contains(err.Error(), "encrypted") {
			t.Fatalf("encrypted key: %v", err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		dir := t.TempDir()
		pub, priv := sigNewKey(t)
		p8, _ := x509.MarshalPKCS8PrivateKey(priv)
		px, _ := x509.MarshalPKIXPublicKey(pub)
		rk, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		rsa8, _ := x509.MarshalPKCS8PrivateKey(rk)
		rsaPub, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
		ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ec8, _ := x509.MarshalPKCS8PrivateKey(ek)
		ecSEC1, _ := x509.MarshalECPrivateKey(ek)
		xk, _ := ecdh.X25519().GenerateKey(rand.Reader)
		x8, _ := x509.MarshalPKCS8PrivateKey(xk)

		private := []struct {
			name, file, want string
		}{
			{"rsa pkcs8", sigWritePEM(t, dir, "rsa.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: rsa8}), "RSA"},
			{"rsa pkcs1", sigWritePEM(t, dir, "rsa1.pem", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), "RSA"},
			{"ec pkcs8", sigWritePEM(t, dir, "ec.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: ec8}), "ECDSA"},
			{"ec sec1", sigWritePEM(t, dir, "ec1.pem", &pem.Block{Type: "EC PRIVATE KEY", Bytes: ecSEC1}), "EC key"},
			{"x25519", sigWritePEM(t, dir, "x.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: x8}), "X25519"},
			{"encrypted pkcs8", sigWritePEM(t, dir, "enc.pem", &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}}), "encrypted"},
			{"legacy encrypted", sigWritePEM(t, dir, "leg.pem", &pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: p8}), "encrypted"},
			{"public key", sigWritePEM(t, dir, "pub.pem", &pem.Block{Type: "PUBLIC KEY", Bytes: px}), "public key where a private key"},
			{"two keys", sigWritePEM(t, dir, "two.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: p8}, &pem.Block{Type: "PRIVATE KEY", Bytes: p8}), "2 PEM blocks"},
			{"openssh", sigWritePEM(t, dir, "ssh.pem", &pem.Block{Type: "OPENSSH PRIVATE KEY", Bytes: []byte("x")}), "OpenSSH"},
			{"not pem", sigWriteText(t, dir, "junk", "hello"), "not a PEM file"},
			{"empty", sigWriteText(t, dir, "empty", ""), "0 PEM blocks"},
			{"garbage pkcs8", sigWritePEM(t, dir, "bad8.pem", &pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "not a PKCS#8"},
		}
		for _, tt := range private {
			t.Run("private "+tt.name, func(t *testing.T) {
				_, err := archive.LoadPrivateKey(tt.file)
				if !errors.Is(err, archive.ErrKey) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("%v, want ErrKey mentioning %q", err, tt.want)
				}
			})
		}
		if _, err := archive.LoadPrivateKey(filepath.Join(dir, "absent")); err == nil || errors.Is(err, archive.ErrKey) {
			t.Fatalf("absent file: %v, want a file error", err)
		}

		public := []struct {
			name, file, want string
		}{
			{"rsa", sigWritePEM(t, dir, "rsa.pub", &pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub}), "RSA"},
			{"private key", sigWritePEM(t, dir, "priv.pub", &pem.Block{Type: "PRIVATE KEY", Bytes: p8}), "private key where a public key"},
			{"ssh", sigWriteText(t, dir, "id.pub", "ssh-ed25519 AAAAC3Nz user@host\n"), "OpenSSH"},
			{"empty", sigWriteText(t, dir, "empty.pub", "\n"), "no PUBLIC KEY"},
			{"trailing junk", sigWriteText(t, dir, "trail.pub", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: px}))+"junk"), "after the last PEM block"},
		}
		for _, tt := range public {
			t.Run("public "+tt.name, func(t *testing.T) {
				_, err := archive.LoadPublicKeys(tt.file)
				if !errors.Is(err, archive.ErrKey) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("%v, want ErrKey mentioning %q", err, tt.want)
				}
			})
		}
	})
}

func sigWriteText(t *testing.T, dir, name, s string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckRollback(t *testing.T) {
	lin := func(c string) string { return strings.Repeat(c, 32) }
	id := func(c string) string { return strings.Repeat(c, 32) }
	dg := func(s string) digest.Digest { return digest.FromString(s) }
	applied := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	rec := &archive.Receipt{Archives: []archive.AppliedArchive{
		{Archive: id("1"), Digest: dg("A"), Lineage: lin("a"), Sequence: 5, Applied: applied},
		{Archive: id("2"), Digest: dg("B"), Lineage: lin("a"), Sequence: 6, Applied: applied},
		{Archive: id("3"), Digest: dg("C"), Lineage: lin("c"), Sequence: 9, Applied: applied},
	}}
	tests := []struct {
		name        string
		a           archive.AppliedArchive
		allow       bool
		wantApplied uint64 // sequence of the conflicting archive; 0: no error
	}{
		{"newer sequence", archive.AppliedArchive{Archive: id("4"), Digest: dg("D"), Lineage: lin("a"), Sequence: 7}, false, 0},
		{"older sequence", archive.AppliedArchive{Archive: id("4"), Digest: dg("D"), Lineage: lin("a"), Sequence: 4}, false, 6},
		{"equal sequence, other archive", archive.AppliedArchive{Archive: id("4"), Digest: dg("D"), Lineage: lin("a"), Sequence: 6}, false, 6},
		{"newest archive re-applied", archive.AppliedArchive{Archive: id("2"), Digest: dg("B"), Lineage: lin("a"), Sequence: 6}, false, 0},
		{"older archive re-applied after a newer", archive.AppliedArchive{Archive: id("1"), Digest: dg("A"), Lineage: lin("a"), Sequence: 5}, false, 6},
		{"same id, other digest", archive.AppliedArchive{Archive: id("2"), Digest: dg("X"), Lineage: lin("a"), Sequence: 6}, false, 6},
		{"older, allowed", archive.AppliedArchive{Archive: id("4"), Digest: dg("D"), Lineage: lin("a"), Sequence: 1}, true, 0},
		{"other lineage", archive.AppliedArchive{Archive: id("4"), Digest: dg("D"), Lineage: lin("b"), Sequence: 1}, false, 0},
		{"second lineage older", archive.AppliedArchive{Archive: id("4"), Digest: dg("D"), Lineage: lin("c"), Sequence: 8}, false, 9},
		{"no lineage", archive.AppliedArchive{Archive: id("4"), Digest: dg("D"), Sequence: 1}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := archive.CheckRollback(rec, tt.a, tt.allow)
			if tt.wantApplied == 0 {
				if err != nil {
					t.Fatalf("%v, want nil", err)
				}
				return
			}
			var re *archive.RollbackError
			if !errors.Is(err, archive.ErrRollback) || !errors.As(err, &re) {
				t.Fatalf("%v, want ErrRollback", err)
			}
			if re.Applied.Sequence != tt.wantApplied || re.Archive != tt.a {
				t.Fatalf("applied %+v, want sequence %d", re.Applied, tt.wantApplied)
			}
			msg := err.Error()
			for _, s := range []string{fmt.Sprintf("sequence %d", tt.a.Sequence), fmt.Sprintf("sequence %d (archive %s)", tt.wantApplied, re.Applied.Archive), "--allow-rollback", "2026-03-04T05:06:07Z"} {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q lacks %q", msg, s)
				}
			}
		})
	}
	if err := archive.CheckRollback(nil, tests[1].a, false); err != nil {
		t.Fatalf("nil receipt: %v", err)
	}
}

func TestCheckRollbackReceiptRoundTrip(t *testing.T) {
	// The rule works on a receipt as written and read back.
	dir := t.TempDir()
	r := sigBuildArchive(t, dir, "a")
	m := r.Manifest()
	rec := &archive.Receipt{Destination: "registry.example", Content: []archive.ReceiptEntry{},
		Archives: []archive.AppliedArchive{{Archive: r.ID().String(), Digest: r.Digest(), Lineage: m.Lineage, Sequence: m.Sequence, Applied: time.Now().UTC()}}}
	p := filepath.Join(dir, "receipt.json")
	if _, err := archive.WriteReceipt(p, rec); err != nil {
		t.Fatal(err)
	}
	back, _, err := archive.LoadReceipt(p)
	if err != nil {
		t.Fatal(err)
	}
	same := archive.AppliedArchive{Archive: r.ID().String(), Digest: r.Digest(), Lineage: m.Lineage, Sequence: m.Sequence}
	if err := archive.CheckRollback(back, same, false); err != nil {
		t.Fatalf("same archive again: %v", err)
	}
	dirB := t.TempDir()
	rb := sigBuildArchive(t, dirB, "b", archive.WithLineage(m.Lineage, m.Sequence))
	other := archive.AppliedArchive{Archive: rb.ID().String(), Digest: rb.Digest(), Lineage: rb.Manifest().Lineage, Sequence: rb.Manifest().Sequence}
	if err := archive.CheckRollback(back, other, false); !errors.Is(err, archive.ErrRollback) {
		t.Fatalf("another archive with the applied sequence: %v, want ErrRollback", err)
	}
}
