// Command gendocs writes the files generated from internal/config's table:
// go generate ./internal/config (make docs) runs it.
package main

import (
	"fmt"
	"os"

	"github.com/userimport/userimport/internal/config"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gendocs REFERENCE.md VARIABLES.json")
		os.Exit(2)
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{os.Args[1], config.Reference()}, {os.Args[2], config.VarList()}} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil { //nolint:gosec // a document of the repository, world-readable like the rest
			fmt.Fprintln(os.Stderr, "gendocs:", err)
			os.Exit(1)
		}
	}
}
