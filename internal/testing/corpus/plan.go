package corpus

import (
	"fmt"
	"slices"
	"strings"
)

// Mixes of file kinds (text, ELF, compressed, random) by layer role, chosen so
// that gzip makes layers 0.35-0.5 of their tar size, as it does for real ones.
var (
	mixOS      = mix{0.40, 0.50, 0.06, 0.04}
	mixRuntime = mix{0.45, 0.45, 0.06, 0.04}
	mixScript  = mix{0.75, 0.15, 0.06, 0.04} // python, node: mostly source
	mixJava    = mix{0.25, 0.35, 0.36, 0.04} // jars are zip files
	mixBinary  = mix{0.10, 0.85, 0.03, 0.02} // Go and C++ binaries
	mixData    = mix{0.30, 0.00, 0.40, 0.30}
	mixConfig  = mix{1, 0, 0, 0}
	mixBig     = mix{0, 0, 0, 1} // model weights: incompressible
)

// layerSpec is everything that determines a layer's bytes: same spec, same
// bytes. Sizes are of the tar stream, before compression, and approximate.
type layerSpec struct {
	id     string // content identity; the rng of the layer is keyed by it
	mix    mix
	size   int64
	gzip   bool // application/vnd.oci.image.layer.v1.tar+gzip, else plain tar
	stream bool // never held in memory: digest in one pass, push in a second
}

func (s *layerSpec) key(seed uint64) string {
	return fmt.Sprintf("%d|%s|%v|%d|%v", seed, s.id, s.mix, s.size, s.gzip)
}

// group is a set of images built on the same middle layers (a language
// runtime, an operator SDK), with the tar sizes of those layers at scale 1.
type group struct {
	name   string
	mix    mix
	layers [][2]int64
}

const mib = 1 << 20

var groups = []group{
	{"golang", mixBinary, [][2]int64{{40 * mib, 90 * mib}}},
	{"python", mixScript, [][2]int64{{60 * mib, 120 * mib}, {10 * mib, 40 * mib}}},
	{"java", mixJava, [][2]int64{{120 * mib, 200 * mib}, {20 * mib, 60 * mib}}},
	{"nodejs", mixScript, [][2]int64{{50 * mib, 100 * mib}}},
	{"operator", mixBinary, [][2]int64{{20 * mib, 50 * mib}}},
	{"monitoring", mixRuntime, [][2]int64{{30 * mib, 70 * mib}}},
}

// imageSpec is one image of a release: a manifest per platform, or an index
// when there are several.
type imageSpec struct {
	repo      string
	platforms []platformSpec
	signed    bool // has a signature-like referrer
	big       bool
}

type platformSpec struct {
	arch   string
	layers []*layerSpec
}

// plan is a release: its images and, in first-use order, its unique layers.
type plan struct {
	images []*imageSpec
	layers []*layerSpec
}

// Repository names and tags.
const (
	repoPrefix = "ocp/component-"
	bigRepo    = "ocp/model-server"
)

func tagFor(release int) string { return fmt.Sprintf("v%d", release) }

// newPlan lays out release 1 or 2. Every choice about a layer is drawn from an
// rng keyed by the layer's id, so that a layer does not change when images are
// added; release 2 is release 1 with some layers replaced and images added.
func newPlan(o Options) *plan {
	p := &plan{}
	byID := map[string]*layerSpec{}
	layer := func(id string, m mix, lo, hi int64, gz bool) *layerSpec {
		if l, ok := byID[id]; ok {
			return l
		}
		size := max(int64(float64(newRNG(o.Seed, "size", id).logUniform(lo, hi))*o.Scale), 1024)
		l := &layerSpec{id: id, mix: m, size: size, gzip: gz, stream: size > streamThreshold}
		byID[id] = l
		return l
	}
	n := o.Images
	if o.Release == 2 {
		n += max(1, o.Images/12)
	}
	for i := range n {
		img := &imageSpec{repo: fmt.Sprintf("%s%02d", repoPrefix, i), signed: i%4 == 0}
		archs := []string{"amd64"}
		if i%9 == 1 {
			archs = append(archs, "arm64")
		}
		for _, arch := range archs {
			pl := platformSpec{arch: arch}
			add := func(l *layerSpec) { pl.layers = append(pl.layers, l) }
			if i%17 == 16 { // a static binary on a micro base
				add(layer("base-micro/"+arch, mixOS, 4*mib, 8*mib, true))
			} else {
				add(layer("base-os/"+arch, mixOS, 200*mib, 240*mib, true))
				add(layer("base-certs", mixConfig, 500<<10, 700<<10, false))
				if i%5 != 0 {
					add(layer("base-runtime/"+arch, mixRuntime, 30*mib, 60*mib, true))
				}
			}
			if i%7 != 6 {
				g := groups[i%len(groups)]
				for j, sz := range g.layers {
					add(layer(fmt.Sprintf("group-%s-%d/%s", g.name, j, arch), g.mix, sz[0], sz[1], true))
				}
			}
			top := fmt.Sprintf("%02d/%s", i, arch)
			add(layer("app-"+top, mixBinary, 2*mib, 300*mib, true))
			if i%4 == 2 {
				add(layer("data-"+top, mixData, 1*mib, 40*mib, true))
			}
			add(layer("config-"+top, mixConfig, 4<<10, 128<<10, i%3 != 0))
			img.platforms = append(img.platforms, pl)
		}
		p.images = append(p.images, img)
	}
	if o.BigLayer {
		img := &imageSpec{repo: bigRepo, big: true}
		big := &layerSpec{id: "model-weights", mix: mixBig, size: o.BigLayerSize, gzip: true, stream: true}
		byID[big.id] = big
		img.platforms = []platformSpec{{arch: "amd64", layers: []*layerSpec{
			layer("base-os/amd64", mixOS, 200*mib, 240*mib, true),
			layer("base-certs", mixConfig, 500<<10, 700<<10, false),
			big,
		}}}
		p.images = append(p.images, img)
	}
	if o.Release == 2 {
		changeLayers(o, p, byID)
	}
	seen := map[*layerSpec]bool{}
	for _, img := range p.images {
		for _, pl := range img.platforms {
			for _, l := range pl.layers {
				if !seen[l] {
					seen[l] = true
					p.layers = append(p.layers, l)
				}
			}
		}
	}
	return p
}

// changeLayers turns release 1 into release 2: a fixed share of the layers of
// the release-1 images, chosen among all but the operating-system bases (a
// new OS base would change everything), is rebuilt: new content, size within
// 10% of the old.
func changeLayers(o Options, p *plan, byID map[string]*layerSpec) {
	var ids []string
	for id := range byID {
		if strings.HasPrefix(id, "base-os/") || strings.HasPrefix(id, "base-micro/") || id == "model-weights" {
			continue
		}
		if top := strings.HasPrefix(id, "app-") || strings.HasPrefix(id, "data-") || strings.HasPrefix(id, "config-"); top {
			var i int
			fmt.Sscanf(id[strings.IndexByte(id, '-')+1:], "%d", &i)
			if i >= o.Images { // an image new in release 2
				continue
			}
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	r := newRNG(o.Seed, "release-2")
	for i := len(ids) - 1; i > 0; i-- { // Fisher-Yates
		j := r.intn(i + 1)
		ids[i], ids[j] = ids[j], ids[i]
	}
	changed := map[*layerSpec]*layerSpec{}
	for _, id := range ids[:max(1, len(ids)*changeShare/100)] {
		old := byID[id]
		nl := *old
		nl.id = id + "@2"
		nl.size = max(old.size*int64(90+newRNG(o.Seed, "size", nl.id).intn(21))/100, 1024)
		changed[old] = &nl
	}
	for _, img := range p.images {
		for _, pl := range img.platforms {
			for k, l := range pl.layers {
				if nl, ok := changed[l]; ok {
					pl.layers[k] = nl
				}
			}
		}
	}
}

// changeShare is the percentage of release-1 layers that release 2 rebuilds.
const changeShare = 8
