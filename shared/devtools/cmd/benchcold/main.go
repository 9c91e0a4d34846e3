// Command benchcold measures the Forwarder's cold start under the Lambda Runtime Interface
// Emulator: for each run it starts the emulator with the real bootstrap (wired by
// NewFromEnv against moto and a contract server), sends one SQS event and times the
// invocation from the request to the answer; the emulator starts the bootstrap on that first
// request, so the time covers process start, init and the first event handled (one
// DynamoDB query, one secret read, one upload). It then sends an event of -rss-messages
// messages and reads the bootstrap's peak RSS (VmHWM). It prints benchmark lines.
//
//	benchcold -rie .bin/aws-lambda-rie -bootstrap .bin/bootstrap -aws-endpoint http://127.0.0.1:5000
//
// The emulator runs the host's architecture only.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/namiml/mparticle-bridge/shared/devtools/benchinvoke"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
	"github.com/namiml/mparticle-bridge/shared/testkit/devstack"
	"github.com/namiml/mparticle-bridge/shared/testkit/motoproc"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

const region = "us-east-1"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchcold:", err)
		os.Exit(1)
	}
}

type flags struct {
	rie, bootstrap, endpoint, samples string
	runs, rssMessages                 int
}

func run() error {
	var f flags
	flag.StringVar(&f.rie, "rie", ".bin/aws-lambda-rie", "aws-lambda-rie binary")
	flag.StringVar(&f.bootstrap, "bootstrap", ".bin/bootstrap", "forwarder bootstrap built for this machine")
	flag.StringVar(&f.endpoint, "aws-endpoint", "", "moto endpoint URL (required)")
	flag.StringVar(&f.samples, "samples", "", "directory of sample events, one <type>.json each (default: the built-in samples)")
	flag.IntVar(&f.runs, "runs", 10, "cold starts to time")
	flag.IntVar(&f.rssMessages, "rss-messages", 1000, "messages of the invocation whose peak RSS is read (0: skip)")
	flag.Parse()
	if f.endpoint == "" {
		return errors.New("-aws-endpoint is required")
	}
	ctx := context.Background()

	env, closeMP, err := provision(ctx, f.endpoint)
	if err != nil {
		return err
	}
	defer closeMP()
	rig, err := benchinvoke.New(benchinvoke.Options{SamplesDir: f.samples, BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		return err
	}
	rig.Close()
	one, err := payload(rig, 1)
	if err != nil {
		return err
	}

	standIn, err := awsReadTime(ctx, f.endpoint, env)
	if err != nil {
		return err
	}
	var cold, warm, initMS, firstMS []float64
	var hwm int64
	for i := range f.runs {
		r, err := coldStart(ctx, f, env, one, i == 0 && f.rssMessages > 0, rig)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		cold = append(cold, r.cold.Seconds()*1000)
		warm = append(warm, r.warm.Seconds()*1000)
		initMS = append(initMS, r.initMS)
		firstMS = append(firstMS, r.invokeMS)
		if r.hwmKB > 0 {
			hwm = r.hwmKB
		}
	}
	fmt.Printf("BenchmarkColdStart/arch=%s \t%d\t%.0f ns/op\t%.2f cold-ms\t%.2f cold-p90-ms\t%.2f init-ms\t%.2f first-invoke-ms\t%.2f warm-ms\t%.2f aws-reads-ms\t%.2f cold-less-aws-ms\n",
		runtime.GOARCH, f.runs, median(cold)*1e6, median(cold), quantile(cold, 0.9), median(initMS), median(firstMS),
		median(warm), standIn, median(cold)-standIn)
	if hwm > 0 {
		fmt.Printf("BenchmarkBootstrapRSS/messages=%d \t1\t%d peak-RSS-B\n", f.rssMessages, hwm*1024)
	}
	return nil
}

// provision creates the stack's table and queue in moto, one integration with its secret,
// and a contract server with its feed; it returns the bootstrap's environment.
func provision(ctx context.Context, endpoint string) ([]string, func(), error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region), config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		return nil, nil, err
	}
	stackName := fmt.Sprintf("benchcold-%d", time.Now().UnixNano())
	out, err := devstack.Provision(ctx, cfg, stackName)
	if err != nil {
		return nil, nil, fmt.Errorf("provision: %w", err)
	}
	in := benchinvoke.Feed()
	in.SecretID += "/" + stackName // a moto left running by an earlier run may hold the name
	secret, _ := json.Marshal(map[string]string{"key": benchinvoke.FeedKey, "secret": benchinvoke.FeedSecret})
	if _, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(in.SecretID), SecretString: aws.String(string(secret))}); err != nil {
		return nil, nil, fmt.Errorf("create secret: %w", err)
	}
	if err := integrationstore.New(dynamodb.NewFromConfig(cfg), out.Names.IntegrationsTable).Create(ctx, &in); err != nil {
		return nil, nil, fmt.Errorf("create integration: %w", err)
	}

	mp := mpserver.New(mpserver.Options{})
	mp.AddFeed(benchinvoke.FeedKey, benchinvoke.FeedSecret, benchinvoke.FeedName)
	url, err := mp.Start("127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	env := append(os.Environ(),
		"AWS_REGION="+region, "AWS_DEFAULT_REGION="+region, "AWS_ENDPOINT_URL="+endpoint,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"INTEGRATIONS_TABLE="+out.Names.IntegrationsTable, "DLQ_URL="+out.DLQURL,
		"DELIVERIES_TABLE="+out.Names.IdempotencyTable,
		"MPARTICLE_BASE_URL="+url, "LOG_LEVEL=INFO", "BENCH_SECRET_ID="+in.SecretID,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128", "AWS_LAMBDA_FUNCTION_TIMEOUT=30",
	)
	return env, func() { _ = mp.Close() }, nil
}

// awsReadTime is what the stand-in takes for the reads a cold start makes (one Query of
// the integrations table, one GetSecretValue), timed warm from here: moto is a Python
// server, far slower than DynamoDB and Secrets Manager, so this part is reported apart.
func awsReadTime(ctx context.Context, endpoint string, env []string) (float64, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region), config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		return 0, err
	}
	var table, secretID string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "INTEGRATIONS_TABLE="); ok {
			table = v
		}
		if v, ok := strings.CutPrefix(kv, "BENCH_SECRET_ID="); ok {
			secretID = v
		}
	}
	store := integrationstore.New(dynamodb.NewFromConfig(cfg), table)
	sm := secretsmanager.NewFromConfig(cfg)
	in := benchinvoke.Feed()
	var times []float64
	for range 7 {
		t0 := time.Now()
		if _, err := store.ListByApp(ctx, in.AppID); err != nil {
			return 0, err
		}
		if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)}); err != nil {
			return 0, err
		}
		times = append(times, time.Since(t0).Seconds()*1000)
	}
	return median(times[2:]), nil
}

func payload(rig *benchinvoke.Rig, n int) ([]byte, error) {
	ev, err := rig.Messages(n)
	if err != nil {
		return nil, err
	}
	return json.Marshal(ev)
}

type result struct {
	cold, warm       time.Duration
	initMS, invokeMS float64
	hwmKB            int64
}

var (
	initRE   = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	invokeRE = regexp.MustCompile(`INVOKE RTDONE\(status: success.*duration: ([0-9.]+)ms\)`)
)

// coldStart starts the emulator, times the first invocation, optionally measures the peak
// RSS of a large one, and stops the emulator.
func coldStart(ctx context.Context, f flags, env []string, body []byte, measureRSS bool, rig *benchinvoke.Rig) (result, error) {
	var res result
	port, err := motoproc.FreePort()
	if err != nil {
		return res, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	bootstrap, err := filepath.Abs(f.bootstrap)
	if err != nil {
		return res, err
	}
	// At log level info the emulator reports the init phase (bootstrap started until its
	// first request for work) and each invocation's duration as the runtime saw it.
	cmd := exec.CommandContext(ctx, f.rie, "--log-level", "info", "--runtime-interface-emulator-address", addr, bootstrap)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start emulator: %w", err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the emulator and the bootstrap
		_ = cmd.Wait()
		_ = pw.Close()
	}()
	initDone := make(chan float64, 1)
	invokeDone := make(chan float64, 8)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if m := initRE.FindStringSubmatch(sc.Text()); m != nil {
				v, _ := strconv.ParseFloat(m[1], 64)
				initDone <- v
			}
			if m := invokeRE.FindStringSubmatch(sc.Text()); m != nil {
				v, _ := strconv.ParseFloat(m[1], 64)
				select {
				case invokeDone <- v:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	if err := waitListening(addr, 10*time.Second); err != nil {
		return res, err
	}

	url := "http://" + addr + "/2015-03-31/functions/function/invocations"
	t0 := time.Now()
	if err := invoke(ctx, url, body); err != nil {
		return res, err
	}
	res.cold = time.Since(t0)
	t1 := time.Now()
	if err := invoke(ctx, url, body); err != nil {
		return res, err
	}
	res.warm = time.Since(t1)
	timeout := time.After(5 * time.Second)
	for _, dst := range []*float64{&res.initMS, &res.invokeMS} {
		ch := initDone
		if dst == &res.invokeMS {
			ch = invokeDone
		}
		select {
		case *dst = <-ch:
		case <-timeout:
			return res, errors.New("the emulator did not report init and invoke durations")
		}
	}

	if measureRSS {
		big, err := payload(rig, f.rssMessages)
		if err != nil {
			return res, err
		}
		if err := invoke(ctx, url, big); err != nil {
			return res, err
		}
		pid, err := childPID(cmd.Process.Pid)
		if err != nil {
			return res, err
		}
		if res.hwmKB, err = statusKB(pid, "VmHWM"); err != nil {
			return res, err
		}
	}
	return res, nil
}

// invoke posts an SQS event and checks that no message was reported as failed.
func invoke(ctx context.Context, url string, body []byte) error {
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ictx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var r struct {
		BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
		ErrorMessage      string            `json:"errorMessage"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(out, &r) != nil || r.ErrorMessage != "" || len(r.BatchItemFailures) > 0 {
		return fmt.Errorf("invoke: HTTP %d: %.300s", resp.StatusCode, out)
	}
	return nil
}

func waitListening(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("emulator not listening on %s: %w", addr, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// childPID finds the bootstrap: the emulator's child process.
func childPID(parent int) (int, error) {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	for _, t := range tasks {
		raw, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil {
				return pid, nil
			}
		}
	}
	return 0, errors.New("bootstrap process not found under the emulator")
}

func statusKB(pid int, name string) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s for pid %d", name, pid)
}

func median(xs []float64) float64 { return quantile(xs, 0.5) }

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1)+0.5)]
}
