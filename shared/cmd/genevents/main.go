// Command genevents writes events/ (see shared/devtools/genevents): `make events`.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/namiml/mparticle-bridge/shared/devtools/genevents"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "genevents:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := moduleRoot()
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

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found: run from inside the repository")
		}
		dir = parent
	}
}
