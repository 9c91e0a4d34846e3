// Package repo finds the repository's root, for the local tools and tests that read its
// files (template.yaml, the samples) or keep state in it (.venv, .dev, .bin).
package repo

import (
	"errors"
	"os"
	"path/filepath"
)

// Root returns the folder holding go.mod, searched upwards from the working directory.
func Root() (string, error) {
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
