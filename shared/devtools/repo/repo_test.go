package repo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRootFindsGoModAbove(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s", root)
	}
	if _, err := os.Stat(filepath.Join(root, "template.yaml")); err != nil {
		t.Fatalf("%s is not the repository root", root)
	}
	t.Chdir(t.TempDir())
	if _, err := Root(); err == nil {
		t.Fatal("found a root outside the repository")
	}
}
