package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelpDoesNothingElse: --help and -h print help and never start the
// demo; an unknown argument is a usage error that starts nothing.
func TestHelpDoesNothingElse(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"--bogus"}} {
		ran := false
		var out, errb bytes.Buffer
		code := realMain(args, &out, &errb, func() error { ran = true; return nil })
		wantCode := 0
		if args[0] == "--bogus" {
			wantCode = 2
		}
		if ran || code != wantCode || !strings.Contains(out.String()+errb.String(), "usage: enclave-demo") {
			t.Errorf("%v: ran=%v exit %d, want no run, exit %d and the usage\n%s%s", args, ran, code, wantCode, out.String(), errb.String())
		}
	}
	ran := false
	if code := realMain(nil, &bytes.Buffer{}, &bytes.Buffer{}, func() error { ran = true; return nil }); !ran || code != 0 {
		t.Fatalf("no arguments: ran=%v exit %d", ran, code)
	}
}
