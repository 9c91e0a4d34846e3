package layout_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

var (
	helpLine = regexp.MustCompile(`^## ([A-Za-z0-9_-]+): \S`)
	ruleLine = regexp.MustCompile(`^([A-Za-z0-9_-]+):(?:[^=]|$)`)
)

// TestMakeHelp: `make help` (and a bare `make`) lists every target a developer is meant to
// run, each documented with a `## target: text` line above a rule of that name.
func TestMakeHelp(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var documented, rules, phony []string
	for _, line := range strings.Split(string(text), "\n") {
		if m := helpLine.FindStringSubmatch(line); m != nil {
			documented = append(documented, m[1])
		}
		if m := ruleLine.FindStringSubmatch(line); m != nil {
			rules = append(rules, m[1])
		}
		if rest, ok := strings.CutPrefix(line, ".PHONY:"); ok {
			phony = append(phony, strings.Fields(rest)...)
		}
	}
	for _, d := range documented {
		if !slices.Contains(rules, d) {
			t.Errorf("## %s: documents a target the Makefile does not define", d)
		}
	}
	for _, p := range phony {
		if !slices.Contains(documented, p) {
			t.Errorf(".PHONY target %s has no `## %s: ...` line, so make help does not list it", p, p)
		}
	}

	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"-s", "--no-print-directory"}, args...)...)
		cmd.Dir = root
		// Run as a top-level make even under `make gotest`, whose settings would leak in.
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); !slices.Contains([]string{"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}, k) {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	help := run("help")
	for _, d := range documented {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(d) + ` +\S`).MatchString(help) {
			t.Errorf("make help does not list %s:\n%s", d, help)
		}
	}
	if bare := run(); bare != help {
		t.Errorf("a bare make printed\n%s\nwant the help:\n%s", bare, help)
	}
}
