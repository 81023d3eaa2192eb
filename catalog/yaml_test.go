package catalog

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func TestYAMLToJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{"schema: x\nname: a\ncreatedAt: 2021-03-04\nat: 2021-03-04T05:06:07Z\n", `{"schema":"x","name":"a","createdAt":"2021-03-04","at":"2021-03-04T05:06:07Z"}`},
		{"n: 12\nf: 1.5\nb: true\nz: null\ns: '12'\nhtml: <a&b>\n", `{"n":12,"f":1.5,"b":true,"z":null,"s":"12","html":"<a&b>"}`},
		{"base: &b {k: v}\nref: *b\nlist: [1, two]\n", `{"base":{"k":"v"},"ref":{"k":"v"},"list":[1,"two"]}`},
		{"# only a comment\n", ``},
		{"text: |\n  line one\n  --- not a marker when indented\n", `{"text":"line one\n--- not a marker when indented\n"}`},
	}
	for _, tt := range tests {
		got, err := yamlToJSON([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("yamlToJSON(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestYAMLSplit(t *testing.T) {
	in := "a: 1\n---\n# comment only\n---   \nb: 2\n...\n---\nc: |\n  x\n  ---\n"
	s := &yamlSplitter{br: bufio.NewReader(strings.NewReader(in))}
	var docs []string
	var offs []int64
	for {
		d, off, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if d == nil {
			break
		}
		docs = append(docs, string(d))
		offs = append(offs, off)
	}
	want := []string{"a: 1\n", "b: 2\n", "c: |\n  x\n  ---\n"}
	if strings.Join(docs, "|") != strings.Join(want, "|") {
		t.Fatalf("docs %q, want %q", docs, want)
	}
	for i, d := range docs {
		if in[offs[i]:offs[i]+int64(len(d))] != d {
			t.Errorf("doc %d offset %d does not point at it", i, offs[i])
		}
	}
}

func TestYAMLAliasBomb(t *testing.T) {
	defer func(n int64) { maxDocumentSize = n }(maxDocumentSize)
	maxDocumentSize = 1 << 20
	doc := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 0, "a"; i < 12; i++ {
		name := string(rune('b' + i))
		doc += name + ": &" + name + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = name
	}
	_, err := yamlToJSON([]byte(doc))
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("error %v, want ErrLimit", err)
	}
}
