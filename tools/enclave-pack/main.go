// Command enclave-pack copies the images an ImageSetConfiguration names from
// registries into an archive (mirror to disk), or into another registry
// (mirror to mirror):
//
//	enclave-pack -c isc.yaml file:///media/usb/content
//	enclave-pack -c isc.yaml --base receipt.json file:///media/usb/delta
//	enclave-pack -c isc.yaml docker://registry.internal:5000/mirror
package main

import "github.com/enclave-mirror/enclave/tools/internal/cli"

func main() { cli.Main(cli.PackApp()) }
