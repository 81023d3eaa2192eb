// Command hostile is the misbehaving peer and the hostile archives used to
// measure enclave before and after issue 22 (hangs, trickles, endless
// referrers pages, attachment bombs, escape sequences). Loopback only.
//
//	go run ./tools/bench/hostile serve -mode hang|trickle|referrers|normal [-addr 127.0.0.1:PORT] [-per-page N]
//	go run ./tools/bench/hostile craft bomb|escape DIR
//
// serve is a registry holding one image (org/app:1, a 1 MiB layer) that:
// hang: answers /v2/ and then nothing; trickle: sends blobs 16 bytes every
// 250 ms; referrers: lists per-page referrers with a Link to a next page
// for ever; normal: behaves. craft bomb writes a 20 KB archive whose 40
// release graphs all name one 64 MiB blob of zeros; craft escape one whose
// reference, media type and attachment name hold terminal escapes.
//
// Measured as (the binaries built with go build -o DIR ./tools/...):
//
//	hostile serve -mode hang -addr 127.0.0.1:PORT &
//	/usr/bin/time -f "%e s %M KB" timeout -s INT 300 enclave-pack -c isc.yaml --src-tls-verify=false file:///tmp/out
//	hostile craft bomb /tmp/bomb
//	/usr/bin/time -f "%e s %M KB" enclave-unpack --from file:///tmp/bomb --dry-run --dest-tls-verify=false docker://127.0.0.1:9/mirror
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/enclave-mirror/enclave/archive/archivetest"
	"github.com/enclave-mirror/enclave/format"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: hostile serve [flags] | hostile craft bomb|escape DIR")
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2:])
	case "craft":
		if len(os.Args) != 4 {
			log.Fatal("usage: hostile craft bomb|escape DIR")
		}
		craftArchive(os.Args[2], os.Args[3])
	default:
		log.Fatalf("unknown command %q", os.Args[1])
	}
}

func dg(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// serve runs the hostile registry.
func serve(args []string) {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	mode := fs.String("mode", "hang", "hang, trickle, referrers or normal")
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	perPage := fs.Int("per-page", 20000, "referrers per page")
	fs.Parse(args)
	layer := make([]byte, 1<<20)
	rand.Read(layer)
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + dg(layer) + `"]}}`)
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": dg(cfg), "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": dg(layer), "size": len(layer)}}})
	blobs := map[string][]byte{dg(cfg): cfg, dg(layer): layer}
	var pages atomic.Int64
	h := func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case p == "/v2/" || p == "/v2":
			w.WriteHeader(200)
		case *mode == "hang":
			<-r.Context().Done()
		case strings.Contains(p, "/manifests/"):
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Docker-Content-Digest", dg(man))
			w.Header().Set("Content-Length", strconv.Itoa(len(man)))
			if r.Method == http.MethodGet {
				w.Write(man)
			}
		case strings.Contains(p, "/blobs/"):
			b, ok := blobs[p[strings.LastIndex(p, "/")+1:]]
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
			if r.Method != http.MethodGet {
				return
			}
			if *mode == "trickle" && len(b) > 1000 {
				for i := 0; i < len(b); i += 16 {
					if _, err := w.Write(b[i:min(i+16, len(b))]); err != nil {
						return
					}
					w.(http.Flusher).Flush()
					select {
					case <-time.After(250 * time.Millisecond):
					case <-r.Context().Done():
						return
					}
				}
				return
			}
			w.Write(b)
		case strings.Contains(p, "/referrers/"):
			n := 0
			if *mode == "referrers" {
				n = *perPage
			}
			page := pages.Add(1)
			ms := make([]map[string]any, n)
			for i := range ms {
				ms[i] = map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": "application/vnd.example.loop",
					"digest": dg([]byte(fmt.Sprint(page, i))), "size": 512}
			}
			body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ms})
			w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
			if n > 0 {
				w.Header().Set("Link", fmt.Sprintf(`<%s?last=%d>; rel="next"`, p, page))
			}
			w.Write(body)
		default:
			http.NotFound(w, r)
		}
	}
	if h, _, err := net.SplitHostPort(*addr); err != nil || !net.ParseIP(h).IsLoopback() {
		log.Fatalf("-addr %q: loopback addresses only", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr())
	go func() {
		for range time.Tick(10 * time.Second) {
			if n := pages.Load(); n > 0 {
				log.Printf("referrers pages served: %d", n)
			}
		}
	}()
	log.Fatal(http.Serve(ln, http.HandlerFunc(h)))
}

// recorder keeps every blob pushed.
type recorder struct{ blobs [][]byte }

func (r *recorder) Push(_ context.Context, _ ocispec.Descriptor, rd io.Reader) error {
	b, err := io.ReadAll(rd)
	r.blobs = append(r.blobs, b)
	return err
}

// craftArchive writes a hostile archive: kind is bomb or escape.
func craftArchive(kind, dir string) {
	ctx := context.Background()
	var rec recorder
	img, err := archivetest.Image(ctx, &rec, "amd64", archivetest.Blob(1, 2000, false))
	if err != nil {
		log.Fatal(err)
	}
	m := format.Manifest{Roots: []format.Root{{Descriptor: img, References: []string{"example.com/team/good:v1"}}}}
	blobs := rec.blobs
	switch kind {
	case "bomb":
		zeros := make([]byte, 64<<20)
		d := digest.FromBytes(zeros)
		for i := range 40 {
			m.Attachments = append(m.Attachments, format.Attachment{Name: fmt.Sprintf("graph/ocp/stable-4.%d/amd64.json", i), MediaType: "application/json", Digest: d, Size: int64(len(zeros))})
		}
		blobs = append(blobs, zeros)
	case "escape":
		note := []byte(`{}`)
		m.Roots[0].References[0] += "\x1b]0;pwned\x07\x1b[2J\x1b[1A\r"
		m.Roots[0].Descriptor.MediaType += "\x1b[31m"
		m.Attachments = []format.Attachment{{Name: "graph/\x1b[2Kx.json", MediaType: "application/json", Digest: digest.FromBytes(note), Size: 2}}
		blobs = append(blobs, note)
	default:
		log.Fatalf("craft %q: want bomb or escape", kind)
	}
	if _, err := archivetest.HandMade(dir, blobs, m); err != nil {
		log.Fatal(err)
	}
}
