// Package layout_test holds the repository's shape to what its docs say: the Lambda
// functions never link tooling, every package on the shipped side is linked by a function,
// `make help` lists the Makefile's targets, and the docs name only paths that exist.
package layout_test

import (
	"bytes"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

const module = "github.com/namiml/mparticle-bridge"

// Tooling is what only developers and tests run; shipped code must never link it.
var tooling = []string{module + "/shared/devtools", module + "/shared/testkit"}

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

func isTooling(pkg string) bool {
	return slices.ContainsFunc(tooling, func(dir string) bool { return under(pkg, dir) })
}

// isTestHelper reports a package of test helpers (forwardertest, ...): shipped-side by
// location, next to what it helps test, but linked only by tests and tooling.
func isTestHelper(pkg string) bool {
	return strings.HasSuffix(pkg[strings.LastIndex(pkg, "/")+1:], "test")
}

// violations checks the layout rules on a module's packages. funcDeps is what
// `go list -deps ./functions/...` prints; imports maps each package of the module to its
// non-test imports.
func violations(funcDeps []string, imports map[string][]string) []string {
	linked := map[string]bool{}
	for _, p := range funcDeps {
		linked[p] = true
	}
	importers := func(pkg string, keep func(string) bool) []string {
		var out []string
		for p, imps := range imports {
			if slices.Contains(imps, pkg) && keep(p) {
				out = append(out, strings.TrimPrefix(p, module+"/"))
			}
		}
		slices.Sort(out)
		return out
	}
	var out []string
	for _, p := range funcDeps {
		if isTooling(p) {
			out = append(out, fmt.Sprintf("the functions link %s, which is tooling (imported by %s)",
				strings.TrimPrefix(p, module+"/"), strings.Join(importers(p, func(q string) bool { return linked[q] }), ", ")))
		}
	}
	for _, p := range slices.Sorted(maps.Keys(imports)) {
		if !under(p, module+"/shared") || isTooling(p) || isTestHelper(p) || linked[p] {
			continue
		}
		by := importers(p, func(string) bool { return true })
		if len(by) == 0 {
			by = []string{"nothing"}
		}
		out = append(out, fmt.Sprintf("%s is on the shipped side but no function links it (imported by %s): move it under shared/devtools or shared/testkit",
			strings.TrimPrefix(p, module+"/"), strings.Join(by, ", ")))
	}
	return out
}

func TestViolations(t *testing.T) {
	m := func(s string) string { return module + "/" + s }
	tests := []struct {
		name     string
		funcDeps []string
		imports  map[string][]string
		want     []string
	}{
		{
			name:     "clean",
			funcDeps: []string{m("functions/forwarder"), m("shared/app"), m("shared/event"), "context"},
			imports: map[string][]string{
				m("functions/forwarder"):     {m("shared/app")},
				m("shared/app"):              {m("shared/event"), "context"},
				m("shared/event"):            nil,
				m("shared/devtools/cmd/dev"): {m("shared/app"), m("shared/testkit/mpserver")},
				m("shared/testkit/mpserver"): {m("shared/event")},
				m("shared/event/eventtest"):  {m("shared/event")},
			},
		},
		{
			name:     "a function links tooling",
			funcDeps: []string{m("functions/forwarder"), m("shared/app"), m("shared/testkit/mpserver")},
			imports: map[string][]string{
				m("functions/forwarder"):     {m("shared/app")},
				m("shared/app"):              {m("shared/testkit/mpserver")},
				m("shared/testkit/mpserver"): nil,
			},
			want: []string{"the functions link shared/testkit/mpserver, which is tooling (imported by shared/app)"},
		},
		{
			name:     "a shipped-side package only tooling imports",
			funcDeps: []string{m("functions/forwarder")},
			imports: map[string][]string{
				m("functions/forwarder"):       nil,
				m("shared/rie"):                nil,
				m("shared/devtools/cmd/bench"): {m("shared/rie")},
			},
			want: []string{"shared/rie is on the shipped side but no function links it (imported by shared/devtools/cmd/bench): move it under shared/devtools or shared/testkit"},
		},
		{
			name:     "a shipped-side package nothing imports",
			funcDeps: []string{m("functions/forwarder")},
			imports:  map[string][]string{m("functions/forwarder"): nil, m("shared/orphan"): nil},
			want:     []string{"shared/orphan is on the shipped side but no function links it (imported by nothing): move it under shared/devtools or shared/testkit"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := violations(tc.funcDeps, tc.imports); !slices.Equal(got, tc.want) {
				t.Errorf("violations =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

// TestLayout applies the rules to this repository.
func TestLayout(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	goList := func(args ...string) []string {
		t.Helper()
		cmd := exec.Command("go", append([]string{"list"}, args...)...)
		cmd.Dir = root
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	funcDeps := goList("-deps", "-f", "{{.ImportPath}}", "./functions/...")
	imports := map[string][]string{}
	for _, line := range goList("-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...") {
		f := strings.Fields(line)
		imports[f[0]] = f[1:]
	}
	if len(funcDeps) < 2 || len(imports) < 2 {
		t.Fatalf("go list found %d function dependencies and %d packages", len(funcDeps), len(imports))
	}
	for _, v := range violations(funcDeps, imports) {
		t.Error(v)
	}
}
