// Command hotswap deploys and rolls back web services with zero downtime.
// Everything lives in internal/; this file only runs the CLI.
package main

import (
	"context"
	"os"

	"github.com/hotswap/hotswap/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
