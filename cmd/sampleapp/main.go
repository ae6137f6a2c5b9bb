// Command sampleapp is the sample web app on its own, built static
// (CGO_ENABLED=0) into the FROM-scratch test images and examples/docker.
// The same app ships inside hotswap as `hotswap sampleapp`.
package main

import (
	"os"

	"github.com/hotswap/hotswap/internal/sampleapp"
)

func main() { os.Exit(sampleapp.Main(os.Args[1:], os.Stdout, os.Stderr)) }
