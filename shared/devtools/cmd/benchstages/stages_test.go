package main

import (
	"bytes"
	"context"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/devtools/benchinvoke"
)

func TestStageOfChargesTheFirstKnownFrameFromTheLeaf(t *testing.T) {
	fw := func(fn, file string) frame {
		return frame{mod + "shared/forwarder." + fn, "/src/shared/forwarder/" + file}
	}
	tests := []struct {
		name  string
		stack []frame
		want  string
	}{
		{"encoding/json under event.Decode", []frame{{"encoding/json.(*decodeState).object", "decode.go"}, {mod + "shared/event.Decode", "event.go"}, fw("(*Handler).decode", "decode.go")}, stageDecode},
		{"allocation anywhere", []frame{{"runtime.memclrNoHeapPointers", "memclr.s"}, {"runtime.mallocgc", "malloc.go"}, {mod + "shared/transform.ToBatch", "transform.go"}}, stageGC},
		{"encoder inside the client's upload", []frame{{mod + "shared/mparticle.appendJSONString", "/src/shared/mparticle/encode.go"}, {mod + "shared/mparticle.(*Client).Upload", "/src/shared/mparticle/client.go"}}, stageEncode},
		{"the client's request", []frame{{"syscall.Syscall", "syscall.go"}, {"internal/poll.(*FD).Write", "fd.go"}, {"net.(*conn).Write", "net.go"}, {"net/http.(*persistConn).writeLoop", "transport.go"}}, stageSend},
		{"the rest of the client", []frame{{mod + "shared/mparticle.(*Client).post", "/src/shared/mparticle/request.go"}}, stageSend},
		{"a log line", []frame{{"strconv.AppendInt", "itoa.go"}, {"log/slog.(*handleState).appendAttr", "handler.go"}, fw("(*Handler).logSummary", "report.go")}, stageLogs},
		{"record lookup", []frame{{mod + "shared/devtools/benchinvoke.(*MemoryTable).BatchGetItem", "rig.go"}, {mod + "shared/deliverystore.(*Store).Delivered", "store.go"}}, stageRecords},
		{"batch building in the forwarder", []frame{fw("(*Handler).build", "build.go"), fw("(*Handler).handle", "handler.go")}, stageTransform},
		{"routing", []frame{{"runtime.mapaccess2_faststr", "map.go"}, fw("(*Handler).routeEvent", "route.go")}, stageRoute},
		{"scheduler", []frame{{"runtime.futex", "os_linux.go"}, {"runtime.findRunnable", "proc.go"}, {"runtime.schedule", "proc.go"}}, stageSched},
		{"the handler's own bookkeeping", []frame{fw("(*invocation).response", "handler.go"), fw("(*Handler).Handle", "handler.go")}, stageOther},
	}
	for _, tc := range tests {
		if got := stageOf(tc.stack); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestAllocStageOfSkipsTheRuntime(t *testing.T) {
	stack := []frame{{"runtime.makeslice", "slice.go"}, {"runtime.growslice", "slice.go"}, {mod + "shared/event.Decode", "event.go"}}
	if got := allocStageOf(stack); got != stageDecode {
		t.Errorf("allocation under event.Decode charged to %s", got)
	}
	if got := allocStageOf([]frame{{"runtime.malg", "proc.go"}}); got != stageOther {
		t.Errorf("runtime's own allocation charged to %s", got)
	}
}

func TestPkgOf(t *testing.T) {
	for name, want := range map[string]string{
		"net/http.(*Transport).roundTrip":        "net/http",
		"runtime.mallocgc":                       "runtime",
		mod + "shared/event.Decode":              mod + "shared/event",
		mod + "shared/event.(*scanner).str":      mod + "shared/event",
		"encoding/json/v2.makeMapArshaler.func3": "encoding/json/v2",
	} {
		if got := pkgOf(name); got != want {
			t.Errorf("pkgOf(%q) = %q, want %q", name, got, want)
		}
	}
}

// spin burns d of this thread's CPU time (not wall time: the machine may be shared), or
// gives up after ten times d.
//
//go:noinline
func spin(d time.Duration) int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := 0
	start, giveUp := benchinvoke.ThreadCPU(), time.Now().Add(10*d)
	for benchinvoke.ThreadCPU()-start < d && time.Now().Before(giveUp) {
		for range 10000 {
			n++
		}
	}
	return n
}

// TestParseProfileReadsLabelsAndStacks reads a CPU profile this process writes: labelled
// samples of spin, and their stacks leaf first.
func TestParseProfileReadsLabelsAndStacks(t *testing.T) {
	if testing.Short() {
		t.Skip("profiles 300 ms of CPU")
	}
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		t.Skip("profiler busy:", err)
	}
	var spun int
	pprof.Do(context.Background(), pprof.Labels("bench", "invoke"), func(context.Context) { spun = spin(300 * time.Millisecond) })
	if spun == 0 {
		t.Fatal("did not spin")
	}
	pprof.StopCPUProfile()
	p, err := parseProfile(buf.Bytes(), "cpu")
	if err != nil {
		t.Fatal(err)
	}
	// The race detector's runtime calls (racecall) run on a stack of their own, so a few
	// labelled samples may not show spin: most of the labelled CPU must.
	var labelled, withSpin int64
	for _, s := range p.samples {
		if !counted(s, "bench", "invoke") || s.labels["bench"] != "invoke" {
			continue
		}
		labelled += s.value
		for _, f := range s.stack {
			if strings.HasSuffix(f.name, ".spin") && strings.HasSuffix(f.file, "stages_test.go") {
				withSpin += s.value
				break
			}
		}
	}
	if labelled < int64(100*time.Millisecond) {
		t.Errorf("labelled CPU %v of 300 ms spun", time.Duration(labelled))
	}
	if withSpin < labelled*8/10 {
		t.Errorf("spin on the stack of %v of %v labelled CPU", time.Duration(withSpin), time.Duration(labelled))
	}
}
