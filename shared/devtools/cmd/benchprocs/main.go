// Command benchprocs measures a warm 1,000-message forwarder invocation with GOMAXPROCS=1
// against the Go default, under the CPU a Lambda function gets at two memory sizes: 128 MB
// (128/1,769 of a vCPU) and 1,769 MB (one vCPU). Lambda meters CPU with the kernel's CFS
// bandwidth control, so each budget is a cgroup with that CPU quota (cgroup v2 cpu.max or v1
// cpu.cfs_quota_us; it needs root). The benchmark runs in a subprocess per setting, the
// compiled benchinvoke test binary's BenchmarkInvoke/messages=1000, and the settings are
// alternated round after round so a change in the machine's load falls on all of them.
//
//	benchprocs -test-binary benchinvoke.test -mpserver http://127.0.0.1:9999 [-rounds 3] [-benchtime 10x]
//
// It prints benchmark lines BenchmarkProcs/budget=<MB>MB/gomaxprocs=<1|default> with the
// forwarder's CPU time per event, wall time per invocation and the GOMAXPROCS the process
// ran with, and a procs-method line saying how the budgets were made. Without cgroups it
// falls back to one core (taskset -c 0) for 1,769 MB, and leaves 128 MB out: a fraction
// of a core cannot be made honestly any other way.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchprocs:", err)
		os.Exit(1)
	}
}

// mbPerVCPU is the memory size at which Lambda gives one vCPU's worth of CPU; below it the
// share is pro rata.
const mbPerVCPU = 1769

// cfsPeriod is the kernel's default CFS period, in µs.
const cfsPeriod = 100000

type budget struct {
	mb int
	// wrap runs a command under the budget; nil: the budget cannot be made here.
	wrap func(cmd []string) []string
	done func()
}

func run() error {
	var (
		bin       = flag.String("test-binary", "", "benchinvoke test binary (go test -c ./shared/devtools/benchinvoke)")
		mpURL     = flag.String("mpserver", "", "base URL of a contract server with the bench feed (required)")
		rounds    = flag.Int("rounds", 3, "rounds; each runs every setting once")
		benchtime = flag.String("benchtime", "10x", "go test -benchtime of each run")
		sizes     = flag.String("memory", "128,1769", "Lambda memory sizes (MB) whose CPU share to emulate")
	)
	flag.Parse()
	if *bin == "" || *mpURL == "" {
		return errors.New("-test-binary and -mpserver are required")
	}
	var mbs []int
	for _, s := range strings.Split(*sizes, ",") {
		mb, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || mb <= 0 {
			return fmt.Errorf("-memory: bad size %q", s)
		}
		mbs = append(mbs, mb)
	}
	method, budgets := makeBudgets(mbs)
	defer func() {
		for _, b := range budgets {
			if b.done != nil {
				b.done()
			}
		}
	}()
	fmt.Printf("procs-method: %s\n", method)
	for r := range *rounds {
		for i, b := range budgets {
			if b.wrap == nil {
				continue
			}
			procs := []string{"default", "1"}
			if (r+i)%2 == 1 { // alternate which goes first
				procs = []string{"1", "default"}
			}
			for _, p := range procs {
				line, err := measure(*bin, *mpURL, *benchtime, b, p)
				if err != nil {
					return fmt.Errorf("%d MB, GOMAXPROCS=%s: %w", b.mb, p, err)
				}
				fmt.Println(line)
			}
		}
	}
	return nil
}

var invokeLine = regexp.MustCompile(`^BenchmarkInvoke/messages=1000(-(\d+))?\s+(\d+)\s+(.*)$`)

// measure runs BenchmarkInvoke/messages=1000 once under budget b and GOMAXPROCS p, and
// returns its figures as a BenchmarkProcs line.
func measure(bin, mpURL, benchtime string, b budget, p string) (string, error) {
	argv := b.wrap([]string{bin, "-test.run", "^$", "-test.bench", "^BenchmarkInvoke$/^messages=1000$",
		"-test.benchtime", benchtime, "-test.count", "1", "-test.benchmem"})
	cmd := exec.Command(argv[0], argv[1:]...)
	env := []string{"BENCH_MPSERVER_URL=" + mpURL}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GOMAXPROCS=") && !strings.HasPrefix(e, "BENCH_MPSERVER_URL=") {
			env = append(env, e)
		}
	}
	if p != "default" {
		env = append(env, "GOMAXPROCS="+p)
	}
	cmd.Env = env
	// The package's tests read files relative to their folder; the benchmark reads none,
	// but the binary expects to run there.
	cmd.Dir = filepath.Dir(bin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s%s", err, out.Bytes(), stderr.Bytes())
	}
	return procsLine(out.Bytes(), b.mb, p)
}

// procsLine turns the test binary's BenchmarkInvoke/messages=1000 line into a
// BenchmarkProcs line for memory size mb and GOMAXPROCS setting p.
func procsLine(out []byte, mb int, p string) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := invokeLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		procs := m[2]
		if procs == "" { // go test leaves the suffix out when GOMAXPROCS is 1
			procs = "1"
		}
		vals := map[string]string{}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			vals[f[i+1]] = f[i]
		}
		if vals["fwd-cpu-ns/event"] == "" || vals["ns/op"] == "" {
			return "", fmt.Errorf("no CPU or wall figure in %q", sc.Text())
		}
		return fmt.Sprintf("BenchmarkProcs/budget=%dMB/gomaxprocs=%s \t%s\t%s ns/op\t%s cpu-ns/event\t%s gomaxprocs",
			mb, p, m[3], vals["ns/op"], vals["fwd-cpu-ns/event"], procs), nil
	}
	return "", fmt.Errorf("no BenchmarkInvoke/messages=1000 line in:\n%s", out)
}

// makeBudgets makes one CPU budget per memory size, and says how.
func makeBudgets(mbs []int) (string, []budget) {
	if mk, kind := cgroupMaker(); mk != nil {
		var bs []budget
		for _, mb := range mbs {
			quota := cfsPeriod * mb / mbPerVCPU
			dir, err := mk(fmt.Sprintf("mparticle-bench-%d-%dmb", os.Getpid(), mb), quota)
			if err != nil {
				for _, b := range bs {
					b.done()
				}
				fmt.Fprintln(os.Stderr, "benchprocs: cgroup:", err)
				break
			}
			bs = append(bs, budget{mb: mb, wrap: intoCgroup(dir), done: func() { removeCgroup(dir) }})
		}
		if len(bs) == len(mbs) {
			return fmt.Sprintf("%s CPU quota per %d µs period = memory/1769 of a CPU, on all %d cores", kind, cfsPeriod, runtime.NumCPU()), bs
		}
	}
	var bs []budget
	for _, mb := range mbs {
		b := budget{mb: mb}
		if mb == mbPerVCPU {
			if _, err := exec.LookPath("taskset"); err == nil {
				b.wrap = func(cmd []string) []string { return append([]string{"taskset", "-c", "0"}, cmd...) }
			}
		}
		bs = append(bs, b)
	}
	return "no cgroup CPU controller writable here: 1769 MB is one core (taskset -c 0); smaller sizes are not emulated", bs
}

// cgroupMaker returns a function that creates a cgroup with a CPU quota (µs per cfsPeriod)
// and returns its folder, or nil when neither cgroup version's CPU controller is writable.
func cgroupMaker() (func(name string, quota int) (string, error), string) {
	const v2 = "/sys/fs/cgroup"
	if c, err := os.ReadFile(filepath.Join(v2, "cgroup.controllers")); err == nil && strings.Contains(string(c), "cpu") {
		return func(name string, quota int) (string, error) {
			// Children of the root get the controller only when the root enables it.
			_ = os.WriteFile(filepath.Join(v2, "cgroup.subtree_control"), []byte("+cpu"), 0o644)
			dir := filepath.Join(v2, name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(dir, "cpu.max"), fmt.Appendf(nil, "%d %d", quota, cfsPeriod), 0o644); err != nil {
				removeCgroup(dir)
				return "", err
			}
			return dir, nil
		}, "cgroup v2"
	}
	const v1 = "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(v1, "cpu.cfs_quota_us")); err == nil {
		return func(name string, quota int) (string, error) {
			dir := filepath.Join(v1, name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				return "", err
			}
			for f, v := range map[string]int{"cpu.cfs_period_us": cfsPeriod, "cpu.cfs_quota_us": quota} {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(strconv.Itoa(v)), 0o644); err != nil {
					removeCgroup(dir)
					return "", err
				}
			}
			return dir, nil
		}, "cgroup v1"
	}
	return nil, ""
}

// intoCgroup starts a command inside the cgroup: a shell moves itself in, then execs it, so
// the command never runs outside the budget.
func intoCgroup(dir string) func(cmd []string) []string {
	return func(cmd []string) []string {
		return append([]string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, dir}, cmd...)
	}
}

func removeCgroup(dir string) {
	if err := os.Remove(dir); err != nil {
		fmt.Fprintln(os.Stderr, "benchprocs: removing", dir+":", err)
	}
}
