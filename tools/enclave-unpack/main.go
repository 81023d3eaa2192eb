// Command enclave-unpack pushes an archive into a registry, and inspects or
// verifies archives:
//
//	enclave-unpack --from file:///media/usb/content docker://registry.internal:5000/mirror
//	enclave-unpack -c isc.yaml --from file:///media/usb/content docker://registry.internal:5000/mirror
//	enclave-unpack inspect file:///media/usb/content
//	enclave-unpack verify file:///media/usb/content
package main

import "github.com/enclave-mirror/enclave/tools/internal/cli"

func main() { cli.Main(cli.UnpackApp()) }
