package browser_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/namiml/mparticle-bridge/shared/devtools/devauth"
	"github.com/namiml/mparticle-bridge/shared/devtools/devserver"
	"github.com/namiml/mparticle-bridge/shared/devtools/devstate"
	"github.com/namiml/mparticle-bridge/shared/devtools/sqsin"
	"github.com/namiml/mparticle-bridge/shared/testkit/motoproc"
	"github.com/namiml/mparticle-bridge/shared/testkit/testenv"
)

// eventFile is what step c sends, as `make dev-send FILE=events/sqs-purchased.json` does.
const eventFile = "events/sqs-purchased.json"

// suite is the pytest file this test runs, from the repository root.
const suite = "shared/testkit/browser/console_test.py"

// TestConsole runs the console's browser suite against the local stack. The Python side
// drives the page; this side starts the stack, mints the tokens the page never sees (the
// demo app's, for checks through the API, and another app's), creates the other app's
// integration, and enqueues platform events for the page's delivery status.
func TestConsole(t *testing.T) {
	testenv.SkipShort(t, "Chromium, Playwright in .venv and the local stack")
	start := time.Now()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	python, chromium := requireBrowser(t, root)
	if _, err := motoproc.Find(root); err != nil {
		t.Fatal(err) // never skip: the message says how to install it
	}

	// The stack, as `make dev` runs it, on free ports and its own state folder.
	stateDir := t.TempDir()
	noWindow := time.Duration(0)
	var out testenv.SyncBuffer
	cfg := devserver.Config{
		Root: root, StateDir: stateDir, Out: &out, BatchingWindow: &noWindow,
		VisibilityTimeout: 5 * time.Second, RetryBackoffUnit: time.Second,
	}
	ctx, stop := context.WithCancel(context.Background())
	readyCh := make(chan devserver.Running, 1)
	done := make(chan error, 1)
	go func() { done <- devserver.Run(ctx, cfg, func(r devserver.Running) { readyCh <- r }) }()
	t.Cleanup(func() {
		stop()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("the local stack did not stop within 15 s")
		}
	})
	var r devserver.Running
	select {
	case r = <-readyCh:
	case err := <-done:
		t.Fatalf("the local stack stopped before it was ready: %v\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("the local stack was not ready after 60 s\n%s", out.String())
	}
	st := r.Stack
	// The console as the banner prints it, signed in for the local provider's default app.
	consoleURL, issuerURL := r.ConsoleURL, r.OIDCURL
	cu, err := url.Parse(consoleURL)
	if err != nil || consoleURL == "" || issuerURL == "" {
		t.Fatalf("the local stack serves no console: console %q, issuer %q", consoleURL, issuerURL)
	}
	defaultApp := cu.Query().Get("app")
	t.Logf("stack ready in %s: console %s, issuer %s", r.Startup, consoleURL, issuerURL)

	key, err := devstate.SigningKey(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	appID, platformID := eventApp(t, filepath.Join(root, eventFile))
	otherApp := "other-app-" + randomHex(t, 4)
	appToken := token(t, key, appID)
	otherToken := token(t, key, otherApp)
	otherName := "Other app feed " + randomHex(t, 3)
	otherID := createIntegration(t, st.APIURL, otherToken, otherApp, otherName)

	awsCfg, err := devserver.AWSConfig(ctx, st.AWSEndpointURL, st.Region)
	if err != nil {
		t.Fatal(err)
	}
	helper := httptest.NewServer(sender{root: root, queueURL: st.QueueURL, sqs: sqs.NewFromConfig(awsCfg)})
	t.Cleanup(helper.Close)

	artifacts := os.Getenv("BROWSER_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(root, ".artifacts", "console")
	}
	if err := os.RemoveAll(artifacts); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	// The feed's credentials the page types in: the local mParticle stand-in accepts whatever
	// an integration of the local stack holds. Their last four characters differ, so the
	// rotation shows a new key hint.
	secrets := map[string]string{
		"APP_TOKEN": appToken, "OTHER_TOKEN": otherToken,
		"MP_KEY": "us1-" + randomHex(t, 16) + "a1b2", "MP_SECRET": randomHex(t, 24),
		"MP_KEY2": "us1-" + randomHex(t, 16) + "c3d4", "MP_SECRET2": randomHex(t, 24),
	}
	env := map[string]string{
		"CONSOLE_URL":            consoleURL,
		"DEFAULT_APP":            defaultApp,
		"APP_CONSOLE_URL":        st.APIURL + "/console?" + url.Values{"app": {appID}}.Encode(),
		"ISSUER_URL":             issuerURL,
		"API_URL":                st.APIURL,
		"APP_ID":                 appID,
		"APP_PLATFORM_ID":        platformID,
		"OTHER_APP_ID":           otherApp,
		"OTHER_INTEGRATION_ID":   otherID,
		"OTHER_INTEGRATION_NAME": otherName,
		"HELPER_URL":             helper.URL,
		"EVENT_FILE":             eventFile,
		"CHROMIUM":               chromium,
		"ARTIFACTS_DIR":          artifacts,
		// No __pycache__ in the tree.
		"PYTHONDONTWRITEBYTECODE": "1",
	}
	for k, v := range secrets {
		env[k] = v
	}

	pyStart := time.Now()
	cmd := exec.CommandContext(ctx, python, "-m", "pytest", "-x", "-v", "-rfEs", "--tb=short",
		"-p", "no:cacheprovider", suite)
	cmd.Dir = root
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.WaitDelay = 10 * time.Second
	output, err := cmd.CombinedOutput()
	text := redact(string(output), secrets)
	if err != nil {
		t.Fatalf("pytest %s failed (%v) after %s; screenshots in %s\n%s\n--- local stack ---\n%s",
			suite, err, time.Since(pyStart).Round(time.Millisecond), artifacts, text, redact(out.String(), secrets))
	}
	// pytest passes with nothing collected or everything skipped; this suite never skips.
	if !strings.Contains(text, " passed") || strings.Contains(text, "skipped") || strings.Contains(text, "no tests ran") {
		t.Fatalf("pytest ran no test, or skipped some:\n%s", text)
	}
	t.Logf("pytest:\n%s", text)
	t.Logf("browser suite %s, whole test %s; screenshots in %s",
		time.Since(pyStart).Round(time.Millisecond), time.Since(start).Round(time.Millisecond), artifacts)
}

// requireBrowser finds .venv's Python with Playwright, axe and pytest, and Chromium; missing
// ones fail the test with the command that installs them.
func requireBrowser(t *testing.T, root string) (python, chromium string) {
	t.Helper()
	python = filepath.Join(root, ".venv", "bin", "python")
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("no .venv (%v): run `make browser-deps`, which installs the pinned Playwright, axe and pytest", err)
	}
	check := exec.Command(python, "-c", "import playwright.sync_api, axe_playwright_python.sync_playwright, pytest")
	if b, err := check.CombinedOutput(); err != nil {
		t.Fatalf(".venv lacks Playwright, axe-playwright-python or pytest (%v): run `make browser-deps`\n%s", err, b)
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if fi, err := os.Stat(chromium); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("Chromium is required at %s (CHROMIUM=...): run `make browser-deps`, which installs Debian's chromium", chromium)
	}
	return python, chromium
}

// eventApp reads the app and app platform of the event file's first record.
func eventApp(t *testing.T, path string) (appID, platformID string) {
	t.Helper()
	msgs, _, err := sqsin.Load(path)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("%s: %v (%d messages)", path, err, len(msgs))
	}
	var ev struct {
		AppID         string `json:"app_id"`
		AppPlatformID string `json:"app_platform_id"`
	}
	if err := json.Unmarshal([]byte(msgs[0].Body), &ev); err != nil || ev.AppID == "" || ev.AppPlatformID == "" {
		t.Fatalf("%s: no app_id and app_platform_id (%v)", path, err)
	}
	return ev.AppID, ev.AppPlatformID
}

func token(t *testing.T, key []byte, app string) string {
	t.Helper()
	tok, err := devauth.IssueDevToken(key, []string{app}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// createIntegration creates an enabled iOS integration of app through the API.
func createIntegration(t *testing.T, api, tok, app, name string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"name": name, "enabled": true, "scope": "platform", "platform": "ios",
		"app_platform_id": "other-platform-" + randomHex(t, 4), "customer_id_source": "external_id",
		"events":      []string{"user.subscription.purchased"},
		"credentials": map[string]string{"key": "us1-" + randomHex(t, 16), "secret": randomHex(t, 24)},
	})
	req, err := http.NewRequest(http.MethodPost, api+"/v1/apps/"+url.PathEscape(app)+"/integrations/mparticle", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var created struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &created) != nil || created.ID == "" {
		t.Fatalf("create the other app's integration: %s %s", resp.Status, b)
	}
	return created.ID
}

// sender enqueues the events of a file under events/ on the stack's queue, through the code
// `make dev-send` runs (sqsin.Load, sqsin.Send): POST /send?file=events/x.json.
type sender struct {
	root     string
	queueURL string
	sqs      *sqs.Client
}

func (s sender) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	file := r.URL.Query().Get("file")
	if r.Method != http.MethodPost || r.URL.Path != "/send" {
		http.Error(w, "POST /send?file=events/<name>.json", http.StatusNotFound)
		return
	}
	if !strings.HasPrefix(file, "events/") || strings.Contains(file, "..") {
		http.Error(w, "file must be under events/", http.StatusBadRequest)
		return
	}
	msgs, _, err := sqsin.Load(filepath.Join(s.root, filepath.FromSlash(file)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ids, err := sqsin.Send(r.Context(), s.sqs, s.queueURL, msgs)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"sent": len(ids)})
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// redact keeps tokens and credentials out of the test's output.
func redact(s string, secrets map[string]string) string {
	for name, v := range secrets {
		if v != "" {
			s = strings.ReplaceAll(s, v, "["+name+"]")
		}
	}
	return s
}
