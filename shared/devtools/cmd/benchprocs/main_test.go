package main

import (
	"strings"
	"testing"
)

func TestProcsLine(t *testing.T) {
	out := "goos: linux\nBenchmarkInvoke/messages=1000-2 \t 10\t 70000000 ns/op\t 14000000 cpu-ns/op\t 13500 fwd-cpu-ns/event\t 10.00 http-reqs/op\nPASS\n"
	got, err := procsLine([]byte(out), 128, "default")
	if err != nil {
		t.Fatal(err)
	}
	if want := "BenchmarkProcs/budget=128MB/gomaxprocs=default \t10\t70000000 ns/op\t13500 cpu-ns/event\t2 gomaxprocs"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// go test leaves the -N suffix out at GOMAXPROCS=1.
	got, err = procsLine([]byte(strings.Replace(out, "=1000-2", "=1000", 1)), 1769, "1")
	if err != nil || !strings.HasSuffix(got, "\t1 gomaxprocs") {
		t.Errorf("GOMAXPROCS=1: %q, %v", got, err)
	}
	if _, err := procsLine([]byte("PASS\n"), 128, "1"); err == nil {
		t.Error("no benchmark line: no error")
	}
}

func TestIntoCgroupMovesTheShellBeforeExec(t *testing.T) {
	argv := intoCgroup("/sys/fs/cgroup/cpu/x")([]string{"bin", "-a"})
	if argv[0] != "/bin/sh" || argv[3] != "/sys/fs/cgroup/cpu/x" || argv[4] != "bin" || argv[5] != "-a" ||
		!strings.Contains(argv[2], `echo $$ > "$0/cgroup.procs" && exec "$@"`) {
		t.Errorf("argv %q", argv)
	}
}
