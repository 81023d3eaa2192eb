package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The manifest's JSON is checked before it is decoded (spec section 7.1), so
// that every reader gives one manifest one meaning: encoding/json matches
// member names ignoring case and keeps the last of duplicated members, where
// other parsers keep the first; the manifest hash commits to the bytes, not
// to how a parser reads them.

// MaxManifestDepth bounds how deeply the manifest's JSON may nest (section
// 10): the manifest itself nests 5 levels deep; the bound keeps the check's
// recursion, and any reader's, small whatever the input. Like the other
// bounds no reader may lower, exceeding it is ErrMalformed.
const MaxManifestDepth = 64

// shape is what the format knows of a JSON value: for an object, its member
// names and their values' shapes; for an array, its elements' shape. A nil
// shape is a value the format gives no structure to (a string, a number, an
// annotation map, a member it does not know): only duplicates are checked in
// it.
type shape struct {
	members map[string]*shape // object members the spec defines; nil: any names
	elem    *shape            // array elements
	str     func(string) error
}

func object(m map[string]*shape) *shape { return &shape{members: m} }
func arrayOf(s *shape) *shape           { return &shape{elem: s} }

// descriptorMembers are the OCI descriptor's members (image-spec
// descriptor.md), with their shapes; prerequisites add providedBy.
func descriptorMembers(extra ...string) map[string]*shape {
	m := map[string]*shape{
		"mediaType": nil, "digest": nil, "size": nil, "urls": nil, "annotations": nil, "data": nil, "artifactType": nil,
		"platform": object(map[string]*shape{"architecture": nil, "os": nil, "os.version": nil, "os.features": nil, "variant": nil}),
	}
	for _, n := range extra {
		m[n] = nil
	}
	return m
}

// manifestShape lists, object by object, the member names of section 7. A
// new member is one line here (and its field in Manifest).
var manifestShape = object(map[string]*shape{
	"mediaType": nil,
	"archiveID": nil,
	"created":   {str: checkCreated},
	"lineage":   nil,
	"sequence":  nil,
	"roots": arrayOf(object(map[string]*shape{
		"descriptor": object(descriptorMembers()),
		"references": nil,
		"omitted":    nil,
	})),
	"delta": object(map[string]*shape{
		"prerequisites": arrayOf(object(descriptorMembers("providedBy"))),
		"bases":         arrayOf(object(map[string]*shape{"kind": nil, "archiveID": nil, "digest": nil, "lineage": nil, "sequence": nil})),
	}),
	"attachments": arrayOf(object(map[string]*shape{"name": nil, "mediaType": nil, "digest": nil, "size": nil})),
	"annotations": nil,
})

// checkManifestJSON refuses what a strict JSON reader and encoding/json would
// read differently (section 7.1): bytes that are not UTF-8, an escaped lone
// surrogate, a member twice in one object, a member name that differs from
// one the spec defines for that object only in case, nesting deeper than
// MaxManifestDepth (all ErrMalformed), and a created that is not an RFC 3339 date-time. Memory:
// the names of the members of the objects open at one time, bounded by the
// manifest's size, which the caller bounded.
func checkManifestJSON(b []byte) error {
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return fmt.Errorf("%w: manifest: invalid UTF-8 at byte %d", ErrMalformed, i)
	}
	if err := checkSurrogates(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := walkJSON(dec, manifestShape, "manifest", 1); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: manifest JSON: %v", ErrMalformed, err)
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: manifest JSON: data after the top-level value", ErrMalformed)
	}
	return nil
}

func walkJSON(dec *json.Decoder, s *shape, path string, depth int) error {
	if depth > MaxManifestDepth {
		return fmt.Errorf("%w: manifest: %s nests more than %d levels deep", ErrMalformed, path, MaxManifestDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := make(map[string]bool)
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			name := t.(string) // object keys are strings
			if seen[name] {
				return fmt.Errorf("%w: manifest: member %q appears twice in %s (readers disagree on which one counts)", ErrMalformed, truncate(name, 40), path)
			}
			seen[name] = true
			var sub *shape
			if s != nil && s.members != nil {
				known, ok := s.members[name]
				if !ok {
					for k := range s.members {
						if strings.EqualFold(k, name) {
							return fmt.Errorf("%w: manifest: member %q in %s is spelled %q (member names are case-sensitive)", ErrMalformed, truncate(name, 40), path, k)
						}
					}
				}
				sub = known
			}
			if err := walkJSON(dec, sub, path+"."+truncate(name, 40), depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // '}'
		return err
	case json.Delim('['):
		var elem *shape
		if s != nil {
			elem = s.elem
		}
		for i := 0; dec.More(); i++ {
			if err := walkJSON(dec, elem, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return err
	}
	if str, ok := tok.(string); ok && s != nil && s.str != nil {
		return s.str(str)
	}
	return nil
}

// checkSurrogates refuses a \u escape of a UTF-16 surrogate that is not part
// of a pair: encoding/json turns it into U+FFFD, other parsers refuse it or
// keep it. b is valid UTF-8; malformed escapes are left to the decoder.
func checkSurrogates(b []byte) error {
	in := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case !in:
			in = c == '"'
		case c == '"':
			in = false
		case c == '\\':
			if i+5 >= len(b) || b[i+1] != 'u' {
				i++ // the escaped character
				continue
			}
			r := hex4(b[i+2 : i+6])
			switch {
			case r >= 0xd800 && r < 0xdc00:
				if i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
					if lo := hex4(b[i+8 : i+12]); lo >= 0xdc00 && lo < 0xe000 {
						i += 11
						continue
					}
				}
				return fmt.Errorf("%w: manifest: escaped high surrogate without its low half at byte %d", ErrMalformed, i)
			case r >= 0xdc00 && r < 0xe000:
				return fmt.Errorf("%w: manifest: escaped low surrogate without its high half at byte %d", ErrMalformed, i)
			}
			i += 5
		}
	}
	return nil
}

func hex4(b []byte) int {
	v := 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return v
}

// checkCreated accepts exactly RFC 3339's date-time (section 5.6) with an
// upper-case T and Z, no leap second and a valid calendar date:
// YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM).
func checkCreated(s string) error {
	bad := func() error {
		return fmt.Errorf("%w: manifest: created %q is not an RFC 3339 date-time (like 2026-01-02T03:04:05Z)", ErrMalformed, truncate(s, 40))
	}
	num := func(t string) int {
		v := 0
		for _, c := range []byte(t) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return bad()
	}
	y, mo, d := num(s[0:4]), num(s[5:7]), num(s[8:10])
	h, mi, se := num(s[11:13]), num(s[14:16]), num(s[17:19])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59 {
		return bad()
	}
	rest := s[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return bad()
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z":
		return nil
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		if oh, om := num(rest[1:3]), num(rest[4:6]); oh >= 0 && oh <= 23 && om >= 0 && om <= 59 {
			return nil
		}
	}
	return bad()
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
