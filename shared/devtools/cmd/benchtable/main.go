// Command benchtable turns the benchmark text `make bench` saves (benchstat format: go test
// -bench output plus the lines of benchstages, benchprocs, benchrss, benchcompare,
// bench/node/upload.js and benchcold) into markdown tables, printed on stdout: issue 12's
// targets, each a ratio of two figures of the same run with its raw figures and met or
// missed, then the per-stage breakdown of an invocation, the figures per event type, the
// invocations, GOMAXPROCS, the upload comparison and the cost per delivery-record policy.
// With -doc it also puts them into that file between its bench:begin and bench:end markers,
// and with -summary a short account between bench:summary:begin and bench:summary:end, so
// the docs (bench/README.md, README.md) always show the latest run. -template is read for
// the GOMAXPROCS the Forwarder is given. Repeated runs of a benchmark are summarised by
// their median.
//
//	benchtable [-doc bench/README.md] [-summary README.md] [-template template.yaml] bench/results/latest.txt
//	benchtable < bench/results/latest.txt
//	benchtable -print-gomaxprocs [-template template.yaml]
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/namiml/mparticle-bridge/shared/event"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	doc := fs.String("doc", "", "markdown file whose part between "+beginMarker+" and "+endMarker+" is replaced by the tables")
	summary := fs.String("summary", "", "markdown file whose part between "+summaryBegin+" and "+summaryEnd+" is replaced by a short summary (README.md)")
	template := fs.String("template", "template.yaml", "SAM template, read for the GOMAXPROCS the Forwarder is given (empty: not read)")
	printProcs := fs.Bool("print-gomaxprocs", false, "only print the Forwarder's GOMAXPROCS in -template (empty line: none set), for bench/run.sh")
	printRuntime := fs.Bool("print-runtime-env", false, "only print the Go runtime variables (GOMAXPROCS, GOGC, GOMEMLIMIT) the Forwarder is given in -template, as NAME=value words, for bench/run.sh")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *printRuntime {
		vars, err := templateRuntimeEnv(*template)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, strings.Join(vars, " "))
		return err
	}
	if *printProcs {
		v, err := templateGOMAXPROCS(*template)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, v)
		return err
	}
	in := stdin
	if fs.NArg() > 0 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	res, err := parse(in)
	if err != nil {
		return err
	}
	if *template != "" {
		if res.gomaxprocsSet, err = templateGOMAXPROCS(*template); err != nil {
			return err
		}
		res.templateRead = true
	}
	var table, short bytes.Buffer
	write(&table, res)
	writeSummary(&short, res)
	if *doc != "" {
		if err := updateDoc(*doc, beginMarker, endMarker, res.stamp, table.Bytes()); err != nil {
			return err
		}
	}
	if *summary != "" {
		if err := updateDoc(*summary, summaryBegin, summaryEnd, res.stamp, short.Bytes()); err != nil {
			return err
		}
	}
	_, err = stdout.Write(table.Bytes())
	return err
}

const (
	beginMarker  = "<!-- bench:begin -->"
	endMarker    = "<!-- bench:end -->"
	summaryBegin = "<!-- bench:summary:begin -->"
	summaryEnd   = "<!-- bench:summary:end -->"
)

// updateDoc rewrites path with text between its markers. The new text goes to a temporary
// file renamed over path, so an interrupted run never leaves a half-written doc.
func updateDoc(path, begin, end, stamp string, text []byte) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := spliceBetween(old, begin, end, stamp, text)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".benchtable-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		if err := os.Chmod(tmp.Name(), fi.Mode().Perm()); err != nil {
			return err
		}
	}
	return os.Rename(tmp.Name(), path)
}

// splice puts the tables between bench/README.md's markers.
func splice(doc []byte, stamp string, table []byte) ([]byte, error) {
	return spliceBetween(doc, beginMarker, endMarker, stamp, table)
}

// spliceBetween replaces what lies between the doc's one begin and one end marker (each on
// a line of its own) with the run's stamp and text; everything else is kept byte for byte.
func spliceBetween(doc []byte, beginMark, endMark, stamp string, table []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(doc), "\n")
	begin, end := -1, -1
	for i, l := range lines {
		switch strings.TrimSpace(l) {
		case beginMark:
			if begin >= 0 {
				return nil, errors.New("more than one " + beginMark)
			}
			begin = i
		case endMark:
			if end >= 0 {
				return nil, errors.New("more than one " + endMark)
			}
			end = i
		}
	}
	if begin < 0 || end < 0 {
		return nil, fmt.Errorf("no %s ... %s section to write into", beginMark, endMark)
	}
	if end < begin {
		return nil, errors.New(endMark + " comes before " + beginMark)
	}
	var b strings.Builder
	for _, l := range lines[:begin+1] {
		b.WriteString(l)
	}
	b.WriteString("\n")
	if stamp != "" {
		b.WriteString("_" + stamp + "_\n\n")
	}
	b.Write(table)
	if len(table) > 0 && table[len(table)-1] != '\n' {
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, l := range lines[end:] {
		b.WriteString(l)
	}
	return []byte(b.String()), nil
}

// templateGOMAXPROCS is the GOMAXPROCS the template sets in the Forwarder's environment,
// "" when it sets none (the Go default).
func templateGOMAXPROCS(path string) (string, error) {
	vars, err := templateForwarderVars(path, "GOMAXPROCS")
	return vars["GOMAXPROCS"], err
}

// runtimeVars are the Go runtime's settings a function's environment can carry; the
// benchmarks of the Forwarder run with the ones the template gives it.
var runtimeVars = []string{"GOMAXPROCS", "GOGC", "GOMEMLIMIT"}

// templateRuntimeEnv is the Go runtime's settings of the Forwarder in the template, as
// NAME=value, in the order of runtimeVars.
func templateRuntimeEnv(path string) ([]string, error) {
	vars, err := templateForwarderVars(path, runtimeVars...)
	var out []string
	for _, name := range runtimeVars {
		if v, ok := vars[name]; ok {
			out = append(out, name+"="+v)
		}
	}
	return out, err
}

// templateForwarderVars reads the named variables of the Forwarder's environment in the
// template (a plain reading of its YAML: these are literal values).
func templateForwarderVars(path string, names ...string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		indent := len(l) - len(strings.TrimLeft(l, " "))
		t := strings.TrimSpace(l)
		switch {
		case indent == 2 && strings.HasSuffix(t, ":"):
			in = t == "ForwarderFunction:" // a resource of the Resources section
		case in:
			for _, name := range names {
				if v, ok := strings.CutPrefix(t, name+":"); ok {
					vars[name] = strings.Trim(strings.TrimSpace(v), `"'`)
				}
			}
		}
	}
	return vars, nil
}

// results maps a benchmark name (GOMAXPROCS suffix removed) to its values per unit.
type results struct {
	values map[string]map[string][]float64
	config map[string]string
	// stamp is the run's first comment line (when and under what load it ran), without "# ".
	stamp string
	// gomaxprocsSet is the Forwarder's GOMAXPROCS in the template ("" for none), read when
	// templateRead.
	gomaxprocsSet string
	templateRead  bool
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// iterations is the pseudo-unit under which a benchmark line's iteration count is kept.
const iterations = "(iterations)"

func parse(r io.Reader) (results, error) {
	res := results{values: map[string]map[string][]float64{}, config: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if c, ok := strings.CutPrefix(line, "# "); ok {
			if res.stamp == "" {
				res.stamp = strings.TrimSpace(c)
			}
			continue
		}
		if k, v, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(line, "Benchmark") && !strings.Contains(k, " ") {
			res.config[k] = strings.TrimSpace(v)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procsSuffix.ReplaceAllString(f[0], "")
		m := res.values[name]
		if m == nil {
			m = map[string][]float64{}
			res.values[name] = m
		}
		if it, err := strconv.ParseFloat(f[1], 64); err == nil {
			m[iterations] = append(m[iterations], it)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return res, fmt.Errorf("%s: value %q: %w", name, f[i], err)
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	return res, sc.Err()
}

// get is the median of a benchmark's values in unit, NaN when absent.
func (r results) get(name, unit string) float64 {
	vs := r.values[name][unit]
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// worst is the largest median of unit over the benchmarks named prefix+type.
func (r results) worst(prefix, unit string) (float64, string) {
	best, which := math.NaN(), ""
	for _, t := range event.AllTypes {
		v := r.get(prefix+string(t), unit)
		if !math.IsNaN(v) && (math.IsNaN(best) || v > best) {
			best, which = v, string(t)
		}
	}
	return best, which
}

func num(v float64, digits int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}

func met(ok bool, v ...float64) string {
	for _, x := range v {
		if math.IsNaN(x) {
			return "not measured"
		}
	}
	if ok {
		return "met"
	}
	return "**missed**"
}
