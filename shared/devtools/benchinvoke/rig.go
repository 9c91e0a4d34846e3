// Package benchinvoke measures forwarder invocations: a Handler wired as in production
// (real integration and credentials caches, the real idempotency store, the real mParticle
// client and the production JSON logger) whose edges are local, namely the mParticle
// contract server (in-process or another process) and in-memory stand-ins for DynamoDB and
// Secrets Manager that count what they are asked. The invocation benchmarks and
// cmd/benchrss use it.
package benchinvoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/namiml/mparticle-bridge/shared/deliverystore"
	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/logging"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/secretstore"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

// Fixed identities of the benchmark's one app and one feed. The key and secret are
// throwaway values known to the local contract server only.
const (
	AppID         = "5b1a3c6e-2f4d-4e8a-9c1b-7d2e8f3a4b5c"
	IntegrationID = "0b1e5c8a-7d2f-4a3b-9c8d-1e2f3a4b5c6d"
	FeedName      = "bench-feed"
	FeedKey       = "bench-key"
	FeedSecret    = "bench-secret"
)

// Cache TTLs of the template (INTEGRATIONS_CACHE_TTL, CREDENTIALS_CACHE_TTL defaults).
const (
	IntegrationsTTL = 30 * time.Second
	CredentialsTTL  = 5 * time.Minute
	IdempotencyTTL  = 72 * time.Hour
)

// Options configures a Rig.
type Options struct {
	// SamplesDir, when set, holds one sample body per event type, named <type>.json;
	// otherwise the rig sends the samples of package eventtest.
	SamplesDir string
	// BaseURL, when set, is a contract server run elsewhere (cmd/mpserver) that has the
	// feed FeedKey:FeedSecret; otherwise one is started in this process.
	BaseURL string
	// LogLevel is the forwarder's LOG_LEVEL; logs are counted and discarded.
	LogLevel string
	// Records is the forwarder's delivery-record policy; empty is its default.
	Records forwarder.RecordPolicy
}

// Rig is one forwarder Handler and what it talks to.
type Rig struct {
	Handler      *forwarder.Handler
	Integrations *integration.Cache
	Credentials  *secretstore.Cache
	// Deliveries is the idempotency table's stand-in.
	Deliveries *MemoryTable

	samples  map[event.Type]map[string]any
	mp       *mpserver.Server // nil when the server is another process
	srv      *httptest.Server
	baseURL  string
	logBytes atomic.Int64
	dead     atomic.Int64
	// serverCPU is the CPU time the in-process contract server's handler spent, in ns.
	serverCPU atomic.Int64
}

// New builds a Rig.
func New(opts Options) (*Rig, error) {
	r := &Rig{samples: map[event.Type]map[string]any{}}
	for _, typ := range event.AllTypes {
		raw := eventtest.Sample(typ)
		if opts.SamplesDir != "" {
			var err error
			if raw, err = os.ReadFile(filepath.Join(opts.SamplesDir, string(typ)+".json")); err != nil {
				return nil, fmt.Errorf("benchinvoke: sample: %w", err)
			}
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("benchinvoke: sample %s: %w", typ, err)
		}
		r.samples[typ] = m
	}
	r.baseURL = opts.BaseURL
	if r.baseURL == "" {
		r.mp = mpserver.New(mpserver.Options{})
		r.mp.AddFeed(FeedKey, FeedSecret, FeedName)
		r.srv = httptest.NewServer(r.timeServer(r.mp))
		r.baseURL = r.srv.URL
	}
	client, err := mparticle.New(mparticle.Options{BaseURL: r.baseURL})
	if err != nil {
		r.Close()
		return nil, err
	}
	log := logging.New(countingWriter{&r.logBytes}, opts.LogLevel)
	// The integrations table in memory, holding the one feed: the cache in front of it is
	// what a warm container measures, and it reads the table once per TTL.
	table := integrationstore.NewMemory()
	feed := Feed()
	if err := table.Create(context.Background(), &feed); err != nil {
		r.Close()
		return nil, fmt.Errorf("benchinvoke: integration: %w", err)
	}
	r.Integrations = integration.NewCache(table, IntegrationsTTL)
	r.Credentials = secretstore.NewCache(secrets{}, CredentialsTTL)
	r.Deliveries = &MemoryTable{items: map[string]bool{}}
	r.Handler = forwarder.New(forwarder.Deps{
		Integrations: r.Integrations,
		Credentials:  r.Credentials,
		Deliveries:   deliverystore.New(r.Deliveries, "deliveries", IdempotencyTTL),
		Uploader:     client,
		DeadLetters:  deadLetters{&r.dead},
		Logger:       log,
	}, forwarder.Config{Records: opts.Records})
	return r, nil
}

// Feed is the benchmark's one integration: every event type, every platform of the app,
// customer_id from the external id.
func Feed() integration.Integration {
	return integration.Integration{
		ID: IntegrationID, AppID: AppID, Name: FeedName, Enabled: true,
		Scope: integration.ScopeAllPlatforms, Platform: "ios", Pod: mparticle.PodUS1,
		CustomerIDSource: integration.CustomerIDExternal, Events: event.AllTypes,
		SecretID: "nami-mparticle/" + AppID + "/" + IntegrationID,
	}
}

// Close stops the in-process contract server, if any.
func (r *Rig) Close() {
	if r.mp != nil {
		_ = r.mp.Close()
	}
	if r.srv != nil {
		r.srv.Close()
	}
}

// Body returns the sample event of type typ with its id replaced by a distinct one for n,
// as SQS would deliver it.
func (r *Rig) Body(typ event.Type, n int) ([]byte, error) {
	m, ok := r.samples[typ]
	if !ok {
		return nil, fmt.Errorf("benchinvoke: no sample of %s", typ)
	}
	cp := make(map[string]any, len(m))
	for k, v := range m {
		cp[k] = v
	}
	cp["id"] = fmt.Sprintf("6a1e%04x-0000-4000-8000-%012x", slot(typ), n)
	cp["app_id"] = AppID
	return json.Marshal(cp)
}

func slot(typ event.Type) int {
	for i, t := range event.AllTypes {
		if t == typ {
			return i
		}
	}
	return 0xffff
}

// TypeOf is the event type of message i of Messages: the 13 types in turn.
func TypeOf(i int) event.Type { return event.AllTypes[i%len(event.AllTypes)] }

// Mix counts the messages of each type in an invocation of n messages (Messages), so that
// figures per type can be weighted as the invocation weighs them.
func Mix(n int) map[event.Type]int {
	m := make(map[event.Type]int, len(event.AllTypes))
	for i := range n {
		m[TypeOf(i)]++
	}
	return m
}

// Messages returns an SQS event of n messages cycling through the 13 event types, each
// received for the first time.
func (r *Rig) Messages(n int) (events.SQSEvent, error) {
	var ev events.SQSEvent
	ev.Records = make([]events.SQSMessage, n)
	for i := range n {
		body, err := r.Body(TypeOf(i), i)
		if err != nil {
			return ev, err
		}
		ev.Records[i] = events.SQSMessage{
			MessageId:      fmt.Sprintf("bench-%06d", i),
			Body:           string(body),
			Attributes:     map[string]string{"ApproximateReceiveCount": "1"},
			EventSource:    "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:000000000000:forwarder-queue",
		}
	}
	return ev, nil
}

// ProfileLabel and ProfileLabelInvoke are the pprof label Invoke puts on the handler's work.
const (
	ProfileLabel       = "bench"
	ProfileLabelInvoke = "invoke"
)

// Measure is what one invocation cost.
type Measure struct {
	Wall time.Duration
	// CPU is the whole process's user+system time during the invocation; ServerCPU the part
	// the in-process contract server's handlers spent (0 when it is another process).
	CPU, ServerCPU time.Duration
	// Requests and BytesSent are what the contract server received.
	Requests, BytesSent int64
	// Accepted counts the batches the server accepted; Failures the messages reported back
	// to SQS for retry; DeadLetters those diverted.
	Accepted, Failures, DeadLetters int64
	// Queries and SecretReads are the integrations table queries and Secrets Manager reads
	// made; IdemRequests, IdemReads and IdemWrites the idempotency table's batch requests and
	// the items they read and wrote.
	Queries, SecretReads                int64
	IdemRequests, IdemReads, IdemWrites int64
	LogBytes                            int64
}

// ClientCPU is the invocation's own CPU time: the process's less the in-process server's.
func (m Measure) ClientCPU() time.Duration { return m.CPU - m.ServerCPU }

// Invoke runs one invocation with a Lambda-like deadline and reports its cost.
func (r *Rig) Invoke(ctx context.Context, ev events.SQSEvent) (Measure, error) {
	st0, err := r.stats(ctx)
	if err != nil {
		return Measure{}, err
	}
	q0, s0, l0, d0, srv0 := r.Integrations.Queries(), r.Credentials.Reads(), r.logBytes.Load(), r.dead.Load(), r.serverCPU.Load()
	ir0, iget0, iput0 := r.Deliveries.Counts()
	cpu0 := processCPU()
	t0 := time.Now()

	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	var resp events.SQSEventResponse
	var herr error
	// The label tells the invocation's CPU profile samples (goroutines it starts inherit it)
	// from the rig's own work around it: the contract server's counters, resets (cmd/benchstages).
	pprof.Do(ictx, pprof.Labels(ProfileLabel, ProfileLabelInvoke), func(ictx context.Context) {
		resp, herr = r.Handler.Handle(ictx, ev)
	})
	cancel()

	m := Measure{Wall: time.Since(t0)}
	m.CPU = processCPU() - cpu0
	m.ServerCPU = time.Duration(r.serverCPU.Load() - srv0)
	st1, err := r.stats(ctx)
	if err != nil {
		return Measure{}, err
	}
	m.Requests = st1.Requests - st0.Requests
	m.BytesSent = st1.BytesReceived - st0.BytesReceived
	m.Accepted = st1.Feeds[FeedName].Batches - st0.Feeds[FeedName].Batches
	m.Failures = int64(len(resp.BatchItemFailures))
	m.DeadLetters = r.dead.Load() - d0
	m.Queries = r.Integrations.Queries() - q0
	m.SecretReads = r.Credentials.Reads() - s0
	m.LogBytes = r.logBytes.Load() - l0
	ir1, iget1, iput1 := r.Deliveries.Counts()
	m.IdemRequests, m.IdemReads, m.IdemWrites = ir1-ir0, iget1-iget0, iput1-iput0
	if herr != nil {
		return m, fmt.Errorf("benchinvoke: invocation failed: %w", herr)
	}
	return m, nil
}

// ForgetDeliveries empties the idempotency table, so the same messages are sent again.
func (r *Rig) ForgetDeliveries() { r.Deliveries.clear() }

// ResetServer drops what the contract server recorded, so long runs do not grow it.
func (r *Rig) ResetServer(ctx context.Context) error {
	if r.mp != nil {
		r.mp.Reset()
		return nil
	}
	return ResetServer(ctx, r.baseURL)
}

// ResetServer resets a contract server run as another process.
func ResetServer(ctx context.Context, baseURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+mpserver.PathReset, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("benchinvoke: reset contract server: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("benchinvoke: reset contract server: HTTP %d", resp.StatusCode)
	}
	return nil
}

func (r *Rig) stats(ctx context.Context) (mpserver.Stats, error) {
	if r.mp != nil {
		return r.mp.Stats(), nil
	}
	return FetchStats(ctx, r.baseURL)
}

// FetchStats reads the counters of a contract server run as another process.
func FetchStats(ctx context.Context, baseURL string) (mpserver.Stats, error) {
	var st mpserver.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+mpserver.PathStats, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("benchinvoke: contract server stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("benchinvoke: contract server stats: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("benchinvoke: contract server stats: %w", err)
	}
	return st, nil
}

// timeServer runs each request of h on a locked OS thread and adds that thread's CPU time
// to serverCPU, so the in-process server's work can be told from the forwarder's.
func (r *Rig) timeServer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		t0 := ThreadCPU()
		defer func() { r.serverCPU.Add(int64(ThreadCPU() - t0)) }()
		h.ServeHTTP(w, req)
	})
}

// rusageThread is Linux's RUSAGE_THREAD, which package syscall does not name.
const rusageThread = 1

// ThreadCPU is the calling OS thread's user+system CPU time (Linux).
func ThreadCPU() time.Duration { return rusage(rusageThread) }

func processCPU() time.Duration { return rusage(syscall.RUSAGE_SELF) }

// ProcessCPU is the process's user+system CPU time so far, all threads included.
func ProcessCPU() time.Duration { return processCPU() }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type countingWriter struct{ n *atomic.Int64 }

func (w countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}

// secrets stands in for Secrets Manager, holding the feed's key and secret.
type secrets struct{}

func (secrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if aws.ToString(in.SecretId) != Feed().SecretID {
		return nil, errors.New("benchinvoke: unknown secret")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(`{"key":"` + FeedKey + `","secret":"` + FeedSecret + `"}`)}, nil
}

type deadLetters struct{ n *atomic.Int64 }

func (d deadLetters) Send(context.Context, forwarder.DeadLetter) error {
	d.n.Add(1)
	return nil
}

// MemoryTable stands in for the idempotency table (BatchGetItem, BatchWriteItem) and counts
// requests and items.
type MemoryTable struct {
	mu                     sync.Mutex
	items                  map[string]bool
	requests, gets, writes int64
}

// Counts returns the requests made and the items read and written so far.
func (t *MemoryTable) Counts() (requests, reads, writes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests, t.gets, t.writes
}

func (t *MemoryTable) clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.items)
}

func (t *MemoryTable) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]ddbtypes.AttributeValue{}}
	for table, ka := range in.RequestItems {
		for _, key := range ka.Keys {
			t.gets++
			pk, _ := key[stack.IdempotencyHashKey].(*ddbtypes.AttributeValueMemberS)
			if pk != nil && t.items[pk.Value] {
				out.Responses[table] = append(out.Responses[table], map[string]ddbtypes.AttributeValue{
					stack.IdempotencyHashKey: &ddbtypes.AttributeValueMemberS{Value: pk.Value}})
			}
		}
	}
	return out, nil
}

func (t *MemoryTable) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	for _, reqs := range in.RequestItems {
		for _, w := range reqs {
			if w.PutRequest == nil {
				continue
			}
			t.writes++
			if pk, ok := w.PutRequest.Item[stack.IdempotencyHashKey].(*ddbtypes.AttributeValueMemberS); ok {
				t.items[pk.Value] = true
			}
		}
	}
	return &dynamodb.BatchWriteItemOutput{}, nil
}
