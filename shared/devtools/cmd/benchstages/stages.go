package main

import (
	"path"
	"strings"
)

// The stages of an invocation a CPU sample is charged to, in the order they are printed.
const (
	stageDecode    = "decode"
	stageRoute     = "route"
	stageTransform = "transform"
	stageEncode    = "encode"
	stageSend      = "send"
	stageRecords   = "records"
	stageLogs      = "logs"
	stageGC        = "runtime/GC"
	stageSched     = "runtime/scheduler"
	stageOther     = "other"
)

var stages = []string{stageDecode, stageRoute, stageTransform, stageEncode, stageSend, stageRecords, stageLogs, stageGC, stageSched, stageOther}

const mod = "github.com/namiml/mparticle-bridge/"

// byPackage charges whole packages. A package's callees that are not listed (encoding/json
// under shared/event, crypto/tls under net/http) fall to the first listed frame above them.
var byPackage = map[string]string{
	mod + "shared/event":         stageDecode,
	mod + "shared/transform":     stageTransform,
	mod + "shared/integration":   stageRoute, // the integrations cache, looked up per app
	mod + "shared/secretstore":   stageRoute, // the credentials cache, looked up per feed
	mod + "shared/deliverystore": stageRecords,
	mod + "shared/logging":       stageLogs,
	"log/slog":                   stageLogs,
	"net/http":                   stageSend,
	"net":                        stageSend,
	"net/textproto":              stageSend,
	"crypto/tls":                 stageSend,
}

// byFile charges the forwarder's own code by the file each step lives in; a file not listed
// (the handler's bookkeeping: settle, outcome, metrics) falls to its caller, and to "other"
// at the top.
var byFile = map[string]string{
	"decode.go":      stageDecode,
	"route.go":       stageRoute,
	"schedule.go":    stageRoute,
	"build.go":       stageTransform,
	"send.go":        stageSend,
	"ratelimit.go":   stageSend,
	"idempotency.go": stageRecords,
	"records.go":     stageRecords,
	"report.go":      stageLogs,
}

// gcPrefixes are the runtime's memory management: allocation and the collector. Allocation
// is charged here rather than to the stage that allocated, so garbage shows as one figure.
var gcPrefixes = []string{
	"runtime.mallocgc", "runtime.gc", "runtime.(*gc", "runtime.scan", "runtime.greyobject",
	"runtime.markroot", "runtime.bgsweep", "runtime.bgscavenge", "runtime.sweepone",
	"runtime.(*sweepLocked)", "runtime.(*mheap)", "runtime.(*mcentral)", "runtime.(*mcache)",
	"runtime.(*mspan)", "runtime.wbBuf", "runtime.(*wbBuf)", "runtime.wbMove", "runtime.bulkBarrier",
	"runtime.findObject", "runtime.(*pageAlloc)", "runtime.(*scavenger",
}

// schedPrefixes are the scheduler's: goroutine switches, and idle threads looking for work
// (the hand-offs between the handler's goroutines and the network poller).
var schedPrefixes = []string{
	"runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.gosched", "runtime.goschedImpl",
	"runtime.mcall", "runtime.stealWork", "runtime.wakep", "runtime.startm", "runtime.stopm",
	"runtime.notesleep", "runtime.notewakeup", "runtime.futex", "runtime.netpoll", "runtime.gopark",
	"runtime.goready", "runtime.ready", "runtime.execute", "runtime.resetspinning", "runtime.runqgrab",
	"runtime.mstart",
}

// pkgOf is the import path of a function's symbol name ("net/http.(*Transport).roundTrip").
func pkgOf(name string) string {
	slash := strings.LastIndexByte(name, '/')
	if dot := strings.IndexByte(name[slash+1:], '.'); dot >= 0 {
		return name[:slash+1+dot]
	}
	return name
}

// stageOfFrame is the stage a frame belongs to, "" for none.
func stageOfFrame(f frame) string {
	pkg := pkgOf(f.name)
	switch {
	case pkg == "runtime":
		for _, p := range gcPrefixes {
			if strings.HasPrefix(f.name, p) {
				return stageGC
			}
		}
		for _, p := range schedPrefixes {
			if strings.HasPrefix(f.name, p) {
				return stageSched
			}
		}
		return ""
	case pkg == mod+"shared/forwarder":
		return byFile[path.Base(f.file)]
	case pkg == mod+"shared/mparticle":
		// The encoder lives in encode*.go; the rest of the client builds, sends and reads
		// requests.
		if strings.HasPrefix(path.Base(f.file), "encode") {
			return stageEncode
		}
		return stageSend
	case pkg == mod+"shared/devtools/benchinvoke":
		// The rig's stand-ins: the delivery table in memory, the log sink.
		switch {
		case strings.Contains(f.name, "MemoryTable"):
			return stageRecords
		case strings.Contains(f.name, "countingWriter"):
			return stageLogs
		}
		return ""
	case strings.HasPrefix(pkg, "github.com/aws/aws-sdk-go-v2/service/dynamodb"),
		strings.HasPrefix(pkg, "github.com/aws/aws-sdk-go-v2/feature/dynamodb"):
		return stageRecords
	}
	return byPackage[pkg]
}

// stageOf charges a sample to the first frame from the leaf up that belongs to a stage.
func stageOf(stack []frame) string {
	for _, f := range stack {
		if s := stageOfFrame(f); s != "" {
			return s
		}
	}
	return stageOther
}

// counted reports whether a sample is the invocations' work: labelled by Rig.Invoke, or the
// runtime's own, which carries no label: the collector's goroutines and idle threads
// looking for work. During the profile the process does little else than invocations (the
// rig's two requests to the contract server's counters and one reset around each), so
// that work is theirs.
func counted(s sample, key, value string) bool {
	if s.labels[key] == value {
		return true
	}
	for _, f := range s.stack {
		if p := pkgOf(f.name); p != "runtime" && !strings.HasPrefix(p, "internal/runtime/") {
			return false
		}
	}
	return len(s.stack) > 0
}

// allocStageOf charges an allocation to the first frame from the leaf up that belongs to a
// stage other than the runtime's: the code that asked for the memory.
func allocStageOf(stack []frame) string {
	for _, f := range stack {
		if p := pkgOf(f.name); p == "runtime" || strings.HasPrefix(p, "internal/runtime/") {
			continue
		}
		if s := stageOfFrame(f); s != "" {
			return s
		}
	}
	return stageOther
}
