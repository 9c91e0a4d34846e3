// Command genevents writes events/ (see shared/devtools/genevents): `make events`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/namiml/mparticle-bridge/shared/devtools/genevents"
	"github.com/namiml/mparticle-bridge/shared/devtools/repo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "genevents:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	files, err := genevents.Generate(root)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "events")
	if err := genevents.Write(dir, files); err != nil {
		return err
	}
	fmt.Printf("wrote %d files to %s\n", len(files), dir)
	return nil
}
