package main

import (
	"fmt"
	"io"
	"math"
)

// AWS list prices (us-east-1) and the template's settings the cost is computed with.
const (
	lambdaGBSecond   = 0.0000133334 // arm64, per GB-second
	lambdaPerRequest = 0.20 / 1e6
	sqsPerRequest    = 0.40 / 1e6 // per 64 KB chunk
	ddbPerRRU        = 0.125 / 1e6
	ddbPerWRU        = 0.625 / 1e6
	secretsPerCall   = 0.05 / 10000
	logsPerGB        = 0.50 // CloudWatch Logs ingestion

	memoryMB     = 128.0  // template MemorySize
	batchSize    = 100    // template BatchSize
	mbPerVCPU    = 1769.0 // Lambda gives one vCPU's worth of CPU at 1,769 MB, pro rata below
	events       = 1e6
	secondsMonth = 30 * 24 * 3600.0
)

// Assumptions: what a local run cannot measure.
const (
	// mparticleWaitSec is the wait for mParticle's answer to one bulk request, and
	// ddbWaitSec for one DynamoDB batch request, in-region.
	mparticleWaitSec = 0.150
	ddbWaitSec       = 0.010
	// sqsPerEvent: the producer's SendMessage, then the event source mapping's
	// ReceiveMessage and DeleteMessageBatch of 10 messages each.
	sqsPerEvent = 1 + 2/10.0
	// platformLogBytes is what Lambda itself logs per invocation (START, END and REPORT lines).
	platformLogBytes = 330.0
	// redelivered is the share of messages SQS hands out again (a retry after a failure or a
	// timeout): under the retries policy each costs one record read. partlyDelivered is the
	// share handed back with some of their deliveries confirmed: each costs one record write.
	redelivered     = 0.01
	partlyDelivered = 0.01
)

// costLines is one policy's cost per million events, by item.
type costLines struct {
	policy                     string
	cpuSec, durSec             float64 // per invocation
	ddbRequests                float64 // per invocation
	lambdaDur, lambdaReq, sqs  float64
	reads, writes              float64 // per event
	ddb, logBytesEvent, logs   float64
	measuredReads, measuredWrs float64 // per event, warm all-delivered invocation
}

func (c costLines) total() float64 { return c.lambdaDur + c.lambdaReq + c.sqs + c.ddb + c.logs }

// cost computes one policy's cost from a batch-size invocation's measured CPU time, record
// requests and log bytes under that policy.
func (r results) cost(policy string) costLines {
	c := costLines{policy: policy}
	name := invokeName(policy, batchSize)
	c.cpuSec = r.get(name, "fwd-cpu-ns/op") / 1e9
	c.ddbRequests = r.get(name, "idem-reqs/op")
	c.measuredReads = r.get(name, "idem-reads/op") / batchSize
	c.measuredWrs = r.get(name, "idem-writes/op") / batchSize
	c.logBytesEvent = r.get(name, "log-B/op") / batchSize
	inv := events / batchSize
	// Billed per millisecond: the CPU time stretched to the function's share of a vCPU, plus
	// the waits for mParticle and DynamoDB.
	c.durSec = math.Ceil((c.cpuSec*mbPerVCPU/memoryMB+mparticleWaitSec+c.ddbRequests*ddbWaitSec)*1000) / 1000
	c.lambdaDur = inv * c.durSec * memoryMB / 1024 * lambdaGBSecond
	c.lambdaReq = inv * lambdaPerRequest
	c.sqs = events * sqsPerEvent * sqsPerRequest
	c.reads, c.writes = c.measuredReads, c.measuredWrs
	if policy == "retries" {
		// A warm invocation of first receives, all delivered, touches no record; the policy's
		// records come from redeliveries and partial failures.
		c.reads += redelivered
		c.writes += partlyDelivered
	}
	c.ddb = events * (c.reads*0.5*ddbPerRRU + c.writes*1*ddbPerWRU)
	c.logs = events * (c.logBytesEvent + platformLogBytes/batchSize) / (1 << 30) * logsPerGB
	return c
}

// writeCost prints the cost per million events under each delivery-record policy.
func writeCost(w io.Writer, r results) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	cs := make([]costLines, len(policies))
	for i, pol := range policies {
		cs[i] = r.cost(pol)
	}
	if math.IsNaN(cs[0].cpuSec) {
		return
	}
	row := func(item, formula string, v func(c costLines) string) {
		p("| %s | %s | %s | %s | %s |", item, formula, v(cs[0]), v(cs[1]), v(cs[2]))
	}
	usd := func(f func(c costLines) float64) func(c costLines) string {
		return func(c costLines) string { return num(f(c), 4) }
	}
	p("Cost per million events, one feed, AWS list prices (us-east-1), template settings (arm64, %.0f MB, batch size %d), for each delivery-record policy; the figures per invocation are from `BenchmarkInvoke` at %d messages under that policy:", memoryMB, batchSize, batchSize)
	p("")
	p("| Item | Formula | retries (default) | all | off |")
	p("| --- | --- | ---: | ---: | ---: |")
	row("CPU per invocation (measured)", "ms", func(c costLines) string { return num(c.cpuSec*1000, 2) })
	row("Billed duration", fmt.Sprintf("CPU × 1769/128 + %.0f ms mParticle + %.0f ms per DynamoDB request (measured count), ms", mparticleWaitSec*1000, ddbWaitSec*1000),
		func(c costLines) string { return num(c.durSec*1000, 0) })
	row("Lambda duration", "10,000 invocations × duration × 0.125 GB × $0.0000133334", usd(func(c costLines) float64 { return c.lambdaDur }))
	row("Lambda requests", "10,000 × $0.20 / 1M", usd(func(c costLines) float64 { return c.lambdaReq }))
	row("SQS", "1M × (1 SendMessage + 0.1 ReceiveMessage + 0.1 DeleteMessageBatch) × $0.40 / 1M", usd(func(c costLines) float64 { return c.sqs }))
	row("Delivery records read / written per event", fmt.Sprintf("measured (warm, all delivered); retries adds %.0f%% redelivered (1 read each) and %.0f%% partly delivered (1 write each)", redelivered*100, partlyDelivered*100),
		func(c costLines) string { return num(c.reads, 3) + " / " + num(c.writes, 3) })
	row("DynamoDB delivery records", "1M × (reads × 0.5 RRU × $0.125 + writes × 1 WRU × $0.625) / 1M", usd(func(c costLines) float64 { return c.ddb }))
	row("CloudWatch Logs (INFO)", fmt.Sprintf("1M × (log bytes per event, measured + %.0f B per invocation of Lambda's own lines / 100) × $0.50 / GB", platformLogBytes),
		usd(func(c costLines) float64 { return c.logs }))
	perContainerFeedMonth := secondsMonth/30*ddbPerRRU + secondsMonth/300*secretsPerCall
	row("DynamoDB integrations + Secrets Manager", fmt.Sprintf("per warm container and feed: $%s per month, whatever the volume (1 query / 30 s, 1 read / 5 min)", num(perContainerFeedMonth, 3)),
		func(costLines) string { return "≈ 0" })
	row("**Total**", "Lambda + SQS + DynamoDB records + CloudWatch Logs", func(c costLines) string { return "**" + num(c.total(), 3) + "**" })
	p("")
	p("SQS assumes the producer sends one message per SendMessage; with SendMessageBatch (10 per call) the SQS line is 1M × 0.3 × $0.40 / 1M = $0.12, and each total $0.36 lower.")
}
