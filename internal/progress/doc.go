// Package progress shows people what a long pack or unpack is doing, and
// tells them at the end what moved, what did not, and why.
//
// A Reporter is fed events by the copy (images started and done, bytes
// transferred, blobs done or skipped with a SkipReason) from any number of
// goroutines. Between Start and Stop it shows the run's state every
// Interval. On a terminal, that is one status line redrawn in place:
//
//	pack  12/36 images  1.2 GiB of 3.4 GiB (35%)  85.3 MiB/s  0:27 left  skipped 340 MiB (in a base)
//
// Elsewhere (CI, a log file) it is a plain line, without escape codes or
// timestamps (the log adds its own):
//
//	pack: 12/36 images, 1.2 GiB of 3.4 GiB (35%), 85.3 MiB/s, 0:27 left, skipped 340 MiB (in a base)
//
// On both, each image done or failed gets its own line, and Logf prints
// lines that never garble the live line:
//
//	pack: done quay.io/x/y:1 (34 MiB)
//	pack: FAILED quay.io/x/z:2: manifest unknown
//
// The rate is a moving average over the last 10 seconds, not since the
// start, so a stall shows within seconds; it and the ETA appear once 2
// seconds have been measured. The time left needs the planned bytes
// (SetTotals): the unique bytes of the run, each blob once. The bytes done
// are those transferred plus those skipped, except SkipShared: a blob met
// again by another image was counted when it was first moved or skipped.
//
// Summary returns the counts; Summary.WriteTo prints them for a person, the
// moved and skipped lines adding up to the total.
// HumanBytes and ParseBytes format and parse sizes ("1.5 GiB", "700MiB",
// "4G", "500MB") for output and flags.
package progress
