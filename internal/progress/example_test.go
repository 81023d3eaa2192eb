package progress_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/enclave-mirror/enclave/internal/progress"
)

func ExampleSummary_WriteTo() {
	s := progress.Summary{
		Verb:          "pack",
		ImagesPlanned: 36,
		BytesPlanned:  1288490188 + 352<<20 + 20<<20,
		Images:        35,
		ImagesFailed:  1,
		Failed:        []progress.Failure{{Ref: "quay.io/x/z:2", Err: "manifest unknown"}},
		Blobs:         210,
		Bytes:         1288490188,
		Skipped: map[progress.SkipReason]progress.SkipCount{
			progress.SkipInBase:        {Blobs: 40, Bytes: 340 << 20},
			progress.SkipAtDestination: {Blobs: 3, Bytes: 12 << 20},
			progress.SkipShared:        {Blobs: 120, Bytes: 2 << 30},
		},
		Elapsed: 14200 * time.Millisecond,
	}
	s.WriteTo(os.Stdout)
	// Output:
	// pack summary
	//   images     35 done, 1 failed
	//   total      1.6 GiB (1678560460 bytes), each blob counted once
	//   moved      1.2 GiB in 210 blobs (14.2s, 86.5 MiB/s)
	//   skipped    340 MiB in 40 blobs already in a base
	//              12 MiB in 3 blobs already at the destination
	//   not moved  20 MiB (failed or interrupted images)
	//   shared     120 blobs (2 GiB) shared with another image of this run, counted once above
	//   failed     quay.io/x/z:2: manifest unknown
}

// A run written to a log file or CI: plain lines, one per image.
func ExampleReporter() {
	r := progress.New(progress.Options{Out: os.Stdout, Verb: "unpack"})
	r.SetTotals(2, 0)
	r.ImageStarted("quay.io/x/y:1")
	r.Transferred(34 << 20)
	r.BlobDone(34 << 20)
	r.ImageDone("quay.io/x/y:1", 34<<20, nil)
	r.ImageStarted("quay.io/x/z:2")
	r.Skipped(progress.SkipAtDestination, 12<<20)
	r.ImageDone("quay.io/x/z:2", 0, errors.New("manifest unknown"))
	r.Stop()
	s := r.Summary()
	fmt.Println(s.Images, s.ImagesFailed, progress.HumanBytes(s.Bytes))
	// Output:
	// unpack: done quay.io/x/y:1 (34 MiB)
	// unpack: FAILED quay.io/x/z:2: manifest unknown
	// 1 1 34 MiB
}

func ExampleParseBytes() {
	for _, s := range []string{"700MiB", "4G", "500MB", "1.5 GiB", "10XB"} {
		n, err := progress.ParseBytes(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(s, "=", n, "=", progress.HumanBytes(n))
	}
	// Output:
	// 700MiB = 734003200 = 700 MiB
	// 4G = 4294967296 = 4 GiB
	// 500MB = 500000000 = 476.8 MiB
	// 1.5 GiB = 1610612736 = 1.5 GiB
	// progress: invalid size "10XB": unknown unit "XB" (use B, KiB, MiB, GiB, TiB; KB, MB, GB, TB; or K, M, G, T for binary)
}
