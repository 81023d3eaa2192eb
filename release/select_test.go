package release_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/enclave-mirror/enclave/release"
	"github.com/enclave-mirror/enclave/release/releasetest"
)

func versions(rs []release.Release) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Version.String()
	}
	return out
}

func TestSelectChannel(t *testing.T) {
	tests := []struct {
		name    string
		channel string
		arch    string
		spec    release.ChannelSpec
		want    []string
		wantErr string
	}{
		{"head", "stable-4.15", "amd64", release.ChannelSpec{}, []string{"4.15.6"}, ""},
		{"head arm64 lags", "fast-4.16", "arm64", release.ChannelSpec{}, []string{"4.16.2"}, ""},
		{"range", "stable-4.15", "amd64", release.ChannelSpec{MinVersion: "4.15.1", MaxVersion: "4.15.5"},
			[]string{"4.15.1", "4.15.2", "4.15.3", "4.15.5"}, ""},
		{"range bounds need not exist", "stable-4.15", "amd64", release.ChannelSpec{MinVersion: "4.15.4", MaxVersion: "4.15.4"}, nil, "no release between 4.15.4 and 4.15.4"},
		{"min only to head", "fast-4.16", "amd64", release.ChannelSpec{MinVersion: "4.16.1"}, []string{"4.16.1", "4.16.2", "4.16.3"}, ""},
		{"max only from channel minimum", "stable-4.15", "amd64", release.ChannelSpec{MaxVersion: "4.14.21"}, []string{"4.14.20", "4.14.21"}, ""},
		{"full", "fast-4.16", "arm64", release.ChannelSpec{Full: true}, []string{"4.15.5", "4.15.6", "4.16.0", "4.16.1", "4.16.2"}, ""},
		{"full bounded", "stable-4.15", "amd64", release.ChannelSpec{Full: true, MinVersion: "4.15.3"}, []string{"4.15.3", "4.15.5", "4.15.6"}, ""},
		{"shortest path", "stable-4.15", "amd64", release.ChannelSpec{ShortestPath: true, MinVersion: "4.14.20", MaxVersion: "4.15.6"},
			[]string{"4.14.20", "4.15.0", "4.15.3", "4.15.6"}, ""},
		{"shortest path tie goes to the newer hop", "stable-4.15", "amd64", release.ChannelSpec{ShortestPath: true, MinVersion: "4.15.0", MaxVersion: "4.15.5"},
			[]string{"4.15.0", "4.15.3", "4.15.5"}, ""},
		{"shortest path min to head", "fast-4.16", "amd64", release.ChannelSpec{ShortestPath: true, MinVersion: "4.15.5"},
			[]string{"4.15.5", "4.16.0", "4.16.2", "4.16.3"}, ""},
		{"shortest path across minors", "fast-4.16", "amd64", release.ChannelSpec{ShortestPath: true, MinVersion: "4.15.6", MaxVersion: "4.16.3"},
			[]string{"4.15.6", "4.16.1", "4.16.3"}, ""},
		{"shortest path same version", "stable-4.15", "amd64", release.ChannelSpec{ShortestPath: true, MinVersion: "4.15.3", MaxVersion: "4.15.3"},
			[]string{"4.15.3"}, ""},
		{"shortest path min above max", "stable-4.15", "amd64", release.ChannelSpec{ShortestPath: true, MinVersion: "4.15.1", MaxVersion: "4.14.21"}, nil, "above maxVersion"},
		{"shortest path conditional edges ignored", "stable-4.15", "amd64", release.ChannelSpec{ShortestPath: true, MinVersion: "4.15.1", MaxVersion: "4.15.3"},
			[]string{"4.15.1", "4.15.2", "4.15.3"}, ""},
		{"shortest path unknown min", "stable-4.15", "amd64", release.ChannelSpec{ShortestPath: true, MinVersion: "4.15.4"}, nil, "minVersion 4.15.4 is not in the channel"},
		{"shortest path dead end", "fast-4.16", "amd64", release.ChannelSpec{ShortestPath: true, MinVersion: "4.16.3", MaxVersion: "4.16.3"}, []string{"4.16.3"}, ""},
		{"min above max", "stable-4.15", "amd64", release.ChannelSpec{MinVersion: "4.15.5", MaxVersion: "4.15.1"}, nil, "above maxVersion"},
		{"bad min", "stable-4.15", "amd64", release.ChannelSpec{MinVersion: "4.15"}, nil, "minVersion"},
		{"full and shortest", "stable-4.15", "amd64", release.ChannelSpec{Full: true, ShortestPath: true}, nil, "mutually exclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Name = tt.channel
			g := realisticGraph(t, tt.channel, tt.arch)
			got, err := release.SelectChannel(g, release.Arch(tt.arch), tt.spec)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, release.ErrSelection) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want ErrSelection containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(versions(got), tt.want) {
				t.Fatalf("got %v, want %v", versions(got), tt.want)
			}
			for _, r := range got {
				if r.Payload != releasetest.FakePayload(r.Version.String(), tt.arch) || r.Arch != release.Arch(tt.arch) {
					t.Fatalf("release %s: payload %s arch %s", r.Version, r.Payload, r.Arch)
				}
			}
		})
	}
}

func TestShortestPathUnreachable(t *testing.T) {
	// In fast-4.16, 4.15.6 only leads to 4.16.1: 4.16.0 is out of reach.
	g := realisticGraph(t, "fast-4.16", "amd64")
	_, err := release.SelectChannel(g, release.ArchAMD64, release.ChannelSpec{Name: "fast-4.16", ShortestPath: true, MinVersion: "4.15.6", MaxVersion: "4.16.0"})
	if err == nil || !errors.Is(err, release.ErrSelection) || !strings.Contains(err.Error(), "no upgrade path from 4.15.6 to 4.16.0") {
		t.Fatalf("error = %v", err)
	}
}

func TestSelectUnion(t *testing.T) {
	cg := func(ch, arch string, spec release.ChannelSpec) release.ChannelGraph {
		spec.Name = ch
		return release.ChannelGraph{Spec: spec, Arch: release.Arch(arch), Graph: realisticGraph(t, ch, arch)}
	}
	got, err := release.Select([]release.ChannelGraph{
		cg("fast-4.16", "arm64", release.ChannelSpec{MaxVersion: "4.16.0"}),
		cg("stable-4.15", "amd64", release.ChannelSpec{MinVersion: "4.15.5"}),
		cg("fast-4.16", "amd64", release.ChannelSpec{MaxVersion: "4.16.0"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ arch, version, channels string }
	var rows []row
	for _, r := range got {
		rows = append(rows, row{string(r.Arch), r.Version.String(), strings.Join(r.Channels, ",")})
	}
	want := []row{
		{"amd64", "4.15.5", "fast-4.16,stable-4.15"},
		{"amd64", "4.15.6", "fast-4.16,stable-4.15"},
		{"amd64", "4.16.0", "fast-4.16"},
		{"arm64", "4.15.5", "fast-4.16"},
		{"arm64", "4.15.6", "fast-4.16"},
		{"arm64", "4.16.0", "fast-4.16"},
	}
	if !slices.Equal(rows, want) {
		t.Fatalf("got %v\nwant %v", rows, want)
	}

	_, err = release.Select([]release.ChannelGraph{cg("stable-4.15", "amd64", release.ChannelSpec{MinVersion: "4.99.0"})})
	if err == nil || !strings.Contains(err.Error(), "channel stable-4.15 (amd64)") {
		t.Fatalf("error = %v, want the channel named", err)
	}
}
