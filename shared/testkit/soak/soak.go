// Package soak proves the forwarder's delivery promise under faults: it drives the real
// forwarder handler the way Lambda's SQS event source mapping does (batches of up to 10
// received from a queue on moto, partial batch responses, redelivery after the visibility
// timeout, the dead-letter queue after maxReceiveCount) against the mParticle contract
// server injecting faults from a seed, and accounts for every event at the end.
//
// Time is scaled down from production so a run takes minutes: production gives the function
// 30 s and the queue a 180 s visibility timeout (six times, AWS's guidance for SQS event
// sources, so a message is not handed to a second invocation while the first still runs).
// The soak keeps that ratio with a 500 ms invocation and a 3 s visibility timeout, and an
// mParticle request timeout of 150 ms. A 429's Retry-After of 1 s therefore never fits in an
// invocation: those messages go back to the queue, as a feed that keeps throttling should.
// The forwarder's retry backoff runs at the same 1:60 scale: a 1 s unit for the deployed
// minute (1, 2, 4, 8, 16, then every 30 s).
//
// Midway, mParticle goes down (the contract server answers only 503) for longer than the old
// policy survived: 5 receives of 3 s each (15 minutes deployed) dead-lettered valid events
// after about 15 s. The run checks that nothing is dead-lettered or lost, that messages were
// indeed received more often than those 5 times, and reports how soon the backlog drained
// once mParticle was back.
package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/namiml/mparticle-bridge/shared/app/forwarderapp"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/logging"

	"github.com/namiml/mparticle-bridge/shared/forwarder"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/metrics"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/stack"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
	"github.com/namiml/mparticle-bridge/shared/transform"
)

// Config describes one soak run.
type Config struct {
	// Events is the number of messages enqueued, invalid ones included.
	Events int
	// Seed fixes the workload, the contract server's faults and the crash draws.
	Seed uint64
	// Pollers is the number of concurrent pollers, each with its own handler (a Lambda
	// container with its own caches): the function's concurrency.
	Pollers int
	// BatchSize is the event source mapping's batch size (SQS returns at most 10 at once).
	BatchSize int
	// VisibilityTimeout and MaxReceiveCount configure the soak's queue.
	VisibilityTimeout time.Duration
	MaxReceiveCount   int
	// BackoffUnit is the forwarder's retry backoff unit (RETRY_BACKOFF_UNIT).
	BackoffUnit time.Duration
	// Outage is a phase during which mParticle answers only 503; none when its Duration is 0.
	Outage Outage
	// InvocationTimeout is the function timeout; DeadlineMargin the forwarder's reserve.
	InvocationTimeout time.Duration
	DeadlineMargin    time.Duration
	// RequestTimeout bounds one mParticle request.
	RequestTimeout time.Duration
	// Faults are the contract server's injected failures.
	Faults mpserver.Faults
	// CrashRate is the share of invocations abandoned midway; InvalidRate the share of
	// messages that are not valid events.
	CrashRate, InvalidRate float64
	// QueueDepth bounds the messages in the queue at once: moto scans the whole queue on
	// every receive and delete, so an unbounded backlog would measure moto, not the forwarder.
	QueueDepth int
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Records is the forwarder's delivery-record policy (DELIVERY_RECORDS).
	Records forwarder.RecordPolicy
	// ExpectIdempotency makes Check also require that no batch was confirmed by mParticle
	// twice in invocations that ran to completion (the idempotency records' job; not
	// expected under forwarder.RecordsOff, where every re-send is mParticle's to drop).
	ExpectIdempotency bool
	// Progress, when set, receives a status line every few seconds.
	Progress io.Writer
	// ForwarderLog, when set, receives the forwarder's JSON logs (secrets redacted).
	ForwarderLog io.Writer
	// StackName names the soak's resources; empty means a fresh name.
	StackName string
}

// Outage is mParticle down: the contract server answers every request with 503 from the
// moment StartAfter messages have been enqueued, for Duration.
type Outage struct {
	StartAfter int
	Duration   time.Duration
}

// LegacyMaxReceiveCount is the receives a message had before the retry backoff, each after
// the queue's visibility timeout: an outage longer than LegacyMaxReceiveCount × the
// visibility timeout dead-lettered valid events.
const LegacyMaxReceiveCount = 5

// Defaults returns the full soak's configuration, the fault mix included.
func Defaults() Config {
	return Config{
		Events:            20000,
		Seed:              1,
		Pollers:           4,
		BatchSize:         10,
		VisibilityTimeout: 3 * time.Second,
		MaxReceiveCount:   stack.MaxReceiveCount,
		BackoffUnit:       time.Second,
		// After a quarter of the events, 60 s (an hour deployed): four times the 15 s the old
		// policy survived, and long enough for a message to fail 6 or 7 times (1+2+4+8+16 s,
		// then 30 s).
		Outage:            Outage{StartAfter: 5000, Duration: 60 * time.Second},
		InvocationTimeout: 500 * time.Millisecond,
		DeadlineMargin:    100 * time.Millisecond,
		RequestTimeout:    150 * time.Millisecond,
		Faults:            mpserver.Faults{P500: 0.05, P429: 0.03, PTimeout: 0.02, PReset: 0.01, RetryAfter: 1},
		CrashRate:         0.01,
		InvalidRate:       0.01,
		QueueDepth:        60,
		Timeout:           30 * time.Minute,
		Records:           forwarder.RecordsRetries,
		ExpectIdempotency: true,
	}
}

// run is the state of one soak run.
type run struct {
	cfg    Config
	awsCfg aws.Config
	sqs    *sqs.Client
	out    devstack.Outputs

	mp      *mpserver.Server
	mpURL   string
	apps    []*appSpec
	feeds   []*feedSpec
	tracker *tracker
	logs    *leakScanner
	store   *integrationstore.Store
	secrets *secretsmanager.Client

	// Expectations, filled by the producer.
	expMu       sync.Mutex
	expected    map[string]map[string]string // feed name -> source_request_id -> event id
	validIDs    map[string]bool
	invalid     map[string]bool // bodies
	valid       int
	noRoute     int
	produced    atomic.Int64
	producerErr error

	// Poller counters.
	invocations   atomic.Int64
	received      atomic.Int64
	deleted       atomic.Int64
	handlerErrors atomic.Int64
	itemFailures  atomic.Int64
	badItemIDs    atomic.Int64
	deleteErrors  atomic.Int64
	sqsErrors     atomic.Int64

	crashMu sync.Mutex
	crashR  *rand.Rand
	crashed map[int64]bool

	outage outagePhase

	ledger   *ledger
	outcomes *outcomeIndex
	emf      *emfTally
	metrics  *metrics.Emitter
	timing   timings
}

// Run provisions a soak stack on the moto endpoint behind awsCfg, runs the workload and
// returns what happened. Its error is for a run that could not be carried out; whether the
// forwarder kept its promise is Report.Check's verdict.
func Run(ctx context.Context, awsCfg aws.Config, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	// A crash cancels AWS calls midway; the SDK's warnings about it are expected noise.
	awsCfg.Logger = logging.Nop{}
	r := &run{
		cfg: cfg, awsCfg: awsCfg, sqs: sqs.NewFromConfig(awsCfg),
		expected: map[string]map[string]string{}, validIDs: map[string]bool{}, invalid: map[string]bool{},
		crashR: rand.New(rand.NewPCG(cfg.Seed, 0x63726173680a)), crashed: map[int64]bool{},
		ledger: newLedger(), outcomes: newOutcomeIndex(), emf: newEMFTally(),
	}
	r.metrics = metrics.New(r.emf, forwarderapp.MetricsNamespace)
	start := time.Now()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	defer r.mp.Close()

	done := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < cfg.Pollers; i++ {
		h, err := r.newHandler()
		if err != nil {
			return nil, fmt.Errorf("soak: forwarder: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.poll(ctx, h, done)
		}()
	}
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		r.producerErr = r.produce(ctx)
	}()
	outageDone := make(chan struct{})
	go func() {
		defer close(outageDone)
		r.runOutage(ctx, start, producerDone)
	}()
	timedOut := r.waitDrained(ctx, producerDone, outageDone)
	close(done)
	wg.Wait()
	<-producerDone
	<-outageDone
	if r.producerErr != nil {
		return nil, r.producerErr
	}
	elapsed := time.Since(start)

	rep, err := r.report(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	rep.Elapsed = elapsed
	rep.TimedOut = timedOut
	return rep, nil
}

func (c *Config) validate() error {
	switch {
	case c.Events <= 0:
		return errors.New("soak: Events must be positive")
	case c.Pollers <= 0:
		return errors.New("soak: Pollers must be positive")
	case c.BatchSize < 1 || c.BatchSize > 10:
		return errors.New("soak: BatchSize must be 1..10 (an SQS receive returns at most 10)")
	case c.VisibilityTimeout < time.Second || c.VisibilityTimeout%time.Second != 0:
		return errors.New("soak: VisibilityTimeout must be whole seconds, at least 1")
	case c.InvocationTimeout >= c.VisibilityTimeout:
		return errors.New("soak: InvocationTimeout must be shorter than VisibilityTimeout, or messages are processed twice at once")
	case c.MaxReceiveCount < 1:
		return errors.New("soak: MaxReceiveCount must be positive")
	case c.QueueDepth < c.BatchSize:
		return errors.New("soak: QueueDepth must hold at least one batch")
	case c.Timeout <= 0:
		return errors.New("soak: Timeout must be positive")
	case c.BackoffUnit <= 0:
		return errors.New("soak: BackoffUnit must be positive")
	case !slices.Contains(forwarder.RecordPolicies, c.Records):
		return fmt.Errorf("soak: Records %q is not a delivery-record policy", c.Records)
	case c.Outage.Duration < 0 || c.Outage.StartAfter < 0 || (c.Outage.Duration > 0 && c.Outage.StartAfter >= c.Events):
		return errors.New("soak: the outage must last a non-negative time and start before the last message is enqueued")
	}
	return c.Faults.Validate()
}

// setup creates the soak's stack, contract server, integrations and secrets.
func (r *run) setup(ctx context.Context) error {
	name := r.cfg.StackName
	if name == "" {
		name = fmt.Sprintf("soak-%d-%d", r.cfg.Seed, time.Now().UnixNano())
	}
	out, err := devstack.Provision(ctx, r.awsCfg, name)
	if err != nil {
		return fmt.Errorf("soak: provision: %w", err)
	}
	r.out = out
	// The soak's own queue settings: a short visibility timeout (see the package comment)
	// and the redrive policy's maxReceiveCount.
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": out.DLQARN, "maxReceiveCount": r.cfg.MaxReceiveCount})
	if _, err := r.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(out.QueueURL),
		Attributes: map[string]string{
			string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(r.cfg.VisibilityTimeout / time.Second)),
			string(sqstypes.QueueAttributeNameRedrivePolicy):     string(redrive),
		},
	}); err != nil {
		return fmt.Errorf("soak: queue attributes: %w", err)
	}

	r.mp = mpserver.New(mpserver.Options{Seed: r.cfg.Seed, Faults: r.cfg.Faults})
	if r.mpURL, err = r.mp.Start("127.0.0.1:0"); err != nil {
		return err
	}

	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0x746f706f0a))
	r.apps, r.feeds = topology(rng)
	ddb := dynamodb.NewFromConfig(r.awsCfg)
	r.store = integrationstore.New(ddb, out.Names.IntegrationsTable)
	r.secrets = secretsmanager.NewFromConfig(r.awsCfg)
	var secrets []string
	for _, f := range r.feeds {
		app := r.app(f.App)
		in := f.integration(app)
		if in.ID, err = integrationstore.NewID(); err != nil {
			return err
		}
		f.IntegrationID = in.ID
		f.Key = "soak-key-" + newUUID(rng)
		f.Secret = "soak-secret-" + newUUID(rng)
		secrets = append(secrets, f.Key, f.Secret)
		in.SecretID = stack.SecretsPrefix + name + "/" + in.ID
		body, _ := json.Marshal(map[string]string{"key": f.Key, "secret": f.Secret})
		if _, err := r.secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(in.SecretID), SecretString: aws.String(string(body)),
		}); err != nil {
			return fmt.Errorf("soak: create secret: %w", err)
		}
		if err := r.store.Create(ctx, &in); err != nil {
			return fmt.Errorf("soak: create integration %s: %w", f.Name, err)
		}
		r.mp.AddFeed(f.Key, f.Secret, f.Name)
		r.expected[f.Name] = map[string]string{}
	}
	var sink io.Writer = r.outcomes
	if r.cfg.ForwarderLog != nil {
		sink = io.MultiWriter(r.outcomes, r.cfg.ForwarderLog)
	}
	r.logs = newLeakScanner(sink, secrets...)

	r.tracker = newTracker(&http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	})
	return nil
}

func (r *run) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (r *run) app(name string) *appSpec {
	for _, a := range r.apps {
		if a.Name == name {
			return a
		}
	}
	panic("soak: unknown app " + name)
}

// newHandler builds a forwarder with the Lambda's own wiring (forwarderapp.New), plus
// the soak's short mParticle request timeout and backoff, its instrumented HTTP transport,
// and its metrics sink. Each poller gets its own, as each Lambda container does.
func (r *run) newHandler() (*forwarder.Handler, error) {
	env := map[string]string{
		"INTEGRATIONS_TABLE":             r.out.Names.IntegrationsTable,
		"DELIVERIES_TABLE":               r.out.Names.IdempotencyTable,
		"DLQ_URL":                        r.out.DLQURL,
		"MPARTICLE_BASE_URL":             r.mpURL + mpserver.PartnerPrefix,
		"DEADLINE_MARGIN_MS":             strconv.FormatInt(r.cfg.DeadlineMargin.Milliseconds(), 10),
		forwarderapp.EnvDeliveryRecords:  string(r.cfg.Records),
		forwarderapp.EnvRetryBackoffUnit: r.cfg.BackoffUnit.String(),
	}
	return forwarderapp.New(context.Background(), r.awsCfg, func(k string) string { return env[k] }, r.logger(),
		forwarderapp.WithMetrics(r.metrics),
		forwarderapp.WithClientOptions(func(o *mparticle.Options) {
			o.HTTPClient = &http.Client{Transport: r.tracker}
			o.RequestTimeout = r.cfg.RequestTimeout
			o.BaseBackoff, o.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
		}))
}

// produce enqueues the workload, keeping at most QueueDepth messages in the queue.
func (r *run) produce(ctx context.Context) error {
	gen := &generator{
		r:           rand.New(rand.NewPCG(r.cfg.Seed, 0x6576656e74730a)),
		apps:        r.apps,
		feeds:       r.feeds,
		invalidRate: r.cfg.InvalidRate,
		base:        time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC),
	}
	for sent := 0; sent < r.cfg.Events; {
		// The backlog is counted locally (sent minus distinct messages deleted) rather than
		// asked of moto, whose attribute call scans the queue. Messages redriven to the DLQ
		// stay counted, which only narrows the window a little.
		room := r.cfg.QueueDepth - (sent - r.ledger.deletedCount())
		if room < 10 && r.cfg.Events-sent > room {
			select {
			case <-ctx.Done():
				return fmt.Errorf("soak: producing: %w", ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		for room > 0 && sent < r.cfg.Events {
			n := min(10, room, r.cfg.Events-sent)
			batch := make([]message, n)
			for i := range batch {
				var err error
				if batch[i], err = gen.next(); err != nil {
					return err
				}
			}
			r.expect(batch)
			if err := r.send(ctx, batch); err != nil {
				return err
			}
			sent += n
			room -= n
			r.produced.Add(int64(n))
		}
	}
	return nil
}

func (r *run) expect(batch []message) {
	r.expMu.Lock()
	defer r.expMu.Unlock()
	for _, m := range batch {
		if !m.Valid {
			r.invalid[m.Body] = true
			continue
		}
		r.valid++
		r.validIDs[m.EventID] = true
		if len(m.Feeds) == 0 {
			r.noRoute++
		}
		for _, f := range m.Feeds {
			r.expected[f.Name][transform.SourceRequestID(m.EventID, f.IntegrationID)] = m.EventID
		}
	}
}

func (r *run) send(ctx context.Context, batch []message) error {
	entries := make([]sqstypes.SendMessageBatchRequestEntry, len(batch))
	for i, m := range batch {
		entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(m.Body)}
	}
	for attempt := 0; len(entries) > 0; attempt++ {
		if attempt == 5 {
			return fmt.Errorf("soak: %d messages could not be enqueued", len(entries))
		}
		out, err := r.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(r.out.QueueURL), Entries: entries})
		if err != nil {
			return fmt.Errorf("soak: enqueue: %w", err)
		}
		for _, ok := range out.Successful {
			if i, err := strconv.Atoi(aws.ToString(ok.Id)); err == nil && i < len(batch) {
				r.ledger.enqueued(batch[i].EventID, aws.ToString(ok.MessageId))
			}
		}
		var retry []sqstypes.SendMessageBatchRequestEntry
		for _, f := range out.Failed {
			for _, e := range entries {
				if aws.ToString(e.Id) == aws.ToString(f.Id) {
					retry = append(retry, e)
				}
			}
		}
		entries = retry
	}
	return nil
}

// depth is the number of messages in a queue, visible, in flight or delayed.
func (r *run) depth(ctx context.Context, url string) (int, error) {
	out, err := r.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return 0, fmt.Errorf("soak: queue depth: %w", err)
	}
	total := 0
	for _, v := range out.Attributes {
		n, _ := strconv.Atoi(v)
		total += n
	}
	return total, nil
}

// waitDrained returns once the producer and the outage are done and the queue has stayed
// empty for two checks, or when the run's time is up (reporting true).
func (r *run) waitDrained(ctx context.Context, producerDone, outageDone <-chan struct{}) (timedOut bool) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	lastProgress := time.Now()
	empty := 0
	for {
		select {
		case <-ctx.Done():
			return true
		case <-tick.C:
		}
		r.outage.watchDrain(r.ledger)
		if r.cfg.Progress != nil && time.Since(lastProgress) >= 5*time.Second {
			lastProgress = time.Now()
			fmt.Fprintf(r.cfg.Progress, "soak: produced %d/%d, invocations %d, deleted %d, requests %d\n",
				r.produced.Load(), r.cfg.Events, r.invocations.Load(), r.deleted.Load(), r.tracker.requests.Load())
		}
		select {
		case <-producerDone:
		default:
			continue
		}
		if r.producerErr != nil {
			return false
		}
		select {
		case <-outageDone:
		default:
			continue
		}
		d, err := r.depth(ctx, r.out.QueueURL)
		if err != nil {
			continue
		}
		if d == 0 {
			empty++
		} else {
			empty = 0
		}
		if empty >= 2 {
			return false
		}
	}
}

// poll is one event source mapping poller with its Lambda container.
func (r *run) poll(ctx context.Context, h *forwarder.Handler, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		default:
		}
		t0 := time.Now()
		out, err := r.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(r.out.QueueURL),
			MaxNumberOfMessages:         int32(r.cfg.BatchSize),
			WaitTimeSeconds:             0,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.sqsErrors.Add(1)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if len(out.Messages) == 0 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		r.timing.add("receive", time.Since(t0))
		r.received.Add(int64(len(out.Messages)))
		r.invoke(ctx, h, out.Messages)
	}
}

// drawCrash decides whether the next invocation crashes, and after how long.
func (r *run) drawCrash(n int64) (bool, time.Duration) {
	r.crashMu.Lock()
	defer r.crashMu.Unlock()
	if r.crashR.Float64() >= r.cfg.CrashRate {
		return false, 0
	}
	r.crashed[n] = true
	return true, time.Duration(r.crashR.Int64N(int64(r.cfg.InvocationTimeout)))
}

// invoke runs one invocation and applies its verdict as the event source mapping does.
func (r *run) invoke(ctx context.Context, h *forwarder.Handler, msgs []sqstypes.Message) {
	n := r.invocations.Add(1)
	in := r.sqsEvent(msgs)
	ictx, cancel := context.WithTimeout(ctx, r.cfg.InvocationTimeout)
	defer cancel()
	ictx = lambdacontext.NewContext(ictx, &lambdacontext.LambdaContext{AwsRequestID: fmt.Sprintf("soak-%d", n)})
	ictx = withInvocation(ictx, n)
	// The ledger counts a message as held while a handler runs on it; afterwards only the
	// delete remains, which is harmless to overlap with a redelivery.
	handle := func() (events.SQSEventResponse, error) {
		r.ledger.take(msgs)
		defer r.ledger.release(msgs)
		return h.Handle(ictx, in)
	}

	if crash, after := r.drawCrash(n); crash {
		// The process dies: whatever the handler was doing stops, its answer is never seen,
		// and every message of the batch comes back after the visibility timeout.
		stop := time.AfterFunc(after, cancel)
		_, _ = handle()
		stop.Stop()
		r.noteAll(msgs, nil, "crash")
		return
	}
	t0 := time.Now()
	resp, err := handle()
	r.timing.add("handle", time.Since(t0))
	if err != nil {
		// A function error fails the whole batch, partial response or not.
		r.handlerErrors.Add(1)
		r.noteAll(msgs, nil, "function error")
		return
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		if !inBatch(msgs, f.ItemIdentifier) {
			// Lambda treats an unknown or empty identifier as a failure of the whole batch.
			r.badItemIDs.Add(1)
			r.noteAll(msgs, nil, "bad item identifier")
			return
		}
		failed[f.ItemIdentifier] = true
	}
	r.itemFailures.Add(int64(len(failed)))
	r.noteAll(msgs, failed, "acknowledged")
	var entries []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range msgs {
		if !failed[aws.ToString(m.MessageId)] {
			entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
	}
	if len(entries) == 0 {
		return
	}
	t0 = time.Now()
	defer func() { r.timing.add("delete", time.Since(t0)) }()
	out, err := r.sqs.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(r.out.QueueURL), Entries: entries})
	if err != nil {
		r.deleteErrors.Add(int64(len(entries)))
		return
	}
	r.deleteErrors.Add(int64(len(out.Failed)))
	r.deleted.Add(int64(len(out.Successful)))
	for _, ok := range out.Successful {
		if i, err := strconv.Atoi(aws.ToString(ok.Id)); err == nil && i < len(msgs) {
			r.ledger.deleted(aws.ToString(msgs[i].MessageId))
		}
	}
}

// noteAll records an invocation's verdict on each message ("item failure" for those in
// failed).
func (r *run) noteAll(msgs []sqstypes.Message, failed map[string]bool, verdict string) {
	for _, m := range msgs {
		v := verdict
		if failed[aws.ToString(m.MessageId)] {
			v = "item failure"
		}
		r.ledger.note(m, v)
	}
}

func inBatch(msgs []sqstypes.Message, id string) bool {
	for _, m := range msgs {
		if aws.ToString(m.MessageId) == id {
			return id != ""
		}
	}
	return false
}

// sqsEvent builds the event Lambda would pass for these messages.
func (r *run) sqsEvent(msgs []sqstypes.Message) events.SQSEvent {
	var in events.SQSEvent
	for _, m := range msgs {
		attrs := map[string]string{}
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		mattrs := map[string]events.SQSMessageAttribute{}
		for k, v := range m.MessageAttributes {
			mattrs[k] = events.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType)}
		}
		in.Records = append(in.Records, events.SQSMessage{
			MessageId:         aws.ToString(m.MessageId),
			ReceiptHandle:     aws.ToString(m.ReceiptHandle),
			Body:              aws.ToString(m.Body),
			Md5OfBody:         aws.ToString(m.MD5OfBody),
			Attributes:        attrs,
			MessageAttributes: mattrs,
			EventSource:       "aws:sqs",
			EventSourceARN:    r.out.QueueARN,
			AWSRegion:         r.awsCfg.Region,
		})
	}
	return in
}

// timings sums durations of the pollers' steps, for the report.
type timings struct {
	mu  sync.Mutex
	sum map[string]time.Duration
	n   map[string]int
}

func (t *timings) add(step string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.sum == nil {
		t.sum, t.n = map[string]time.Duration{}, map[string]int{}
	}
	t.sum[step] += d
	t.n[step]++
}

// means returns the mean duration per step.
func (t *timings) means() map[string]time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]time.Duration{}
	for k, v := range t.sum {
		out[k] = v / time.Duration(t.n[k])
	}
	return out
}
