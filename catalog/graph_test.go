package catalog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestGraphErrors(t *testing.T) {
	e := func(name, replaces string, skips ...string) Entry {
		return Entry{Name: name, Replaces: replaces, Skips: skips}
	}
	tests := []struct {
		name    string
		entries []Entry
		head    string
		errHas  string
	}{
		{"dangling tail is fine", []Entry{e("b", "a"), e("c", "b")}, "c", ""},
		{"skips make the head", []Entry{e("a", ""), e("b", ""), e("c", "a", "b")}, "c", ""},
		{"skipRange is not an edge", []Entry{e("a", ""), {Name: "b", SkipRange: ">=0.0.0"}}, "", "multiple channel heads found: [a b]"},
		{"no entries", nil, "", "channel has no entries"},
		{"duplicate", []Entry{e("a", ""), e("a", "")}, "", `duplicate channel entry "a"`},
		{"replaces itself", []Entry{e("a", "a")}, "", "replaces itself"},
		{"skips itself", []Entry{e("a", "", "a")}, "", "skips itself"},
		{"no head", []Entry{e("a", "b"), e("b", "a")}, "", "no channel heads found"},
		{"cycle below the head", []Entry{e("h", "a"), e("a", "b"), e("b", "a")}, "", "detected a cycle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head, err := (&Channel{Package: "p", Name: "c", Entries: tt.entries}).Head()
			if tt.errHas != "" {
				if !errors.Is(err, ErrInvalidGraph) || !strings.Contains(err.Error(), tt.errHas) || !strings.Contains(err.Error(), `package "p" channel "c"`) {
					t.Fatalf("error %v, want ErrInvalidGraph saying %q", err, tt.errHas)
				}
				return
			}
			if err != nil || head != tt.head {
				t.Fatalf("head %q, %v; want %q", head, err, tt.head)
			}
		})
	}
}

// OCPBUGS-52471: oc-mirror's filter ran out of memory on channels whose
// entries skip 90+ others, re-queueing entries without a visited set. Here
// every entry is visited once.
func TestGraphManySkips(t *testing.T) {
	const n, skips = 3000, 95
	var entries []Entry
	for i := range n {
		en := Entry{Name: fmt.Sprintf("op.v1.%d.0", i)}
		if i > 0 {
			en.Replaces = fmt.Sprintf("op.v1.%d.0", i-1)
		}
		for k := 2; k <= skips+1 && i-k >= 0; k++ {
			en.Skips = append(en.Skips, fmt.Sprintf("op.v1.%d.0", i-k))
		}
		entries = append(entries, en)
	}
	start := time.Now()
	g, err := newGraph(&Channel{Package: "op", Name: "stable", Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if g.head != "op.v1.2999.0" || len(g.chain()) != n {
		t.Errorf("head %s chain %d", g.head, len(g.chain()))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("graph of %d entries with %d skips each took %v", n, skips, d)
	}
}
