package layout_test

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// skipDirs are not the project's own text: installed tools, build output, local state.
var skipDirs = []string{".git", ".venv", "node_modules", ".aws-sam", ".bin", ".dev", ".hypothesis", ".schemathesis", "bench/results/work"}

// repoFiles lists the repository's files (slash paths from root) whose names keep says.
func repoFiles(t *testing.T, root string, keep func(name string) bool) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		if d.IsDir() {
			if slices.Contains(skipDirs, rel) || slices.Contains(skipDirs, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if keep(d.Name()) {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func textFile(name string) bool {
	switch path.Ext(name) {
	case ".go", ".md", ".yaml", ".yml", ".toml", ".sh", ".js", ".json":
		return true
	}
	return name == "Makefile" || name == ".gitignore"
}

// TestStandsAlone: the product's specification lives outside this repository, so nothing
// here may cite it; each rule is stated where it applies instead. The needles are split so
// that this file does not match itself.
func TestStandsAlone(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	needles := []string{"event-" + "contract", "contract" + ".md", "\u00a7", "shared/" + "reference"}
	for _, f := range repoFiles(t, root, textFile) {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, n := range needles {
				if strings.Contains(line, n) {
					t.Errorf("%s:%d cites an outside document (%q): say the rule itself, or point to the project's own docs", f, i+1, n)
				}
			}
		}
	}
}

var (
	// repoPath is a path into the Go tree as docs and comments write it; <...>, * and {...}
	// mark a pattern (functions/<name>), which is not checked. Paths elsewhere (bench/,
	// events/) often name generated files, so they are left alone.
	repoPath = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])((?:shared|functions)/[A-Za-z0-9_.<>*{},/-]*)`)
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// exists reports whether a path named in text exists: as written, or as a package path
// followed by a Go identifier (shared/event.Decode).
func exists(root, p string) bool {
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err == nil {
		return true
	}
	dir, last := path.Split(p)
	if pkg, _, ok := strings.Cut(last, "."); ok && pkg != "" {
		if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(dir+pkg))); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// TestNamedPathsExist: docs, comments and scripts name only paths of the current tree, so
// a move cannot leave them pointing at the old place.
func TestNamedPathsExist(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files := repoFiles(t, root, func(name string) bool {
		switch path.Ext(name) {
		case ".go", ".md", ".yaml", ".sh":
			return true
		}
		return name == "Makefile"
	})
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if strings.HasSuffix(f, ".go") && !strings.Contains(line, "//") {
				continue // code: the compiler checks import paths
			}
			for _, m := range repoPath.FindAllStringSubmatch(line, -1) {
				p := strings.TrimRight(m[1], ".,")
				if strings.ContainsAny(p, "<*{") {
					continue
				}
				if !exists(root, p) {
					t.Errorf("%s:%d names %s, which does not exist", f, i+1, p)
				}
			}
			if !strings.HasSuffix(f, ".md") {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target, _, _ := strings.Cut(m[1], "#")
				if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(path.Dir(f)), filepath.FromSlash(target))); err != nil {
					t.Errorf("%s:%d links to %s, which does not exist", f, i+1, m[1])
				}
			}
		}
	}
}
