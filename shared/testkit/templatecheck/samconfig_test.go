package templatecheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/namiml/mparticle-bridge/shared/stack"
)

// These tests hold samconfig.toml's environments to the template: every override names a
// parameter and passes its constraints (CloudFormation would refuse the deploy), the
// environments' secrets never share a prefix, and each environment's retry settings still
// outlast an outage.

var samconfigPath = filepath.Join("..", "..", "..", "samconfig.toml")

// samEnv is one samconfig environment: its stack and its parameter overrides.
type samEnv struct {
	name      string
	stackName string
	overrides map[string]string
}

// parseSamconfig reads the subset of TOML samconfig.toml uses: [env.command.parameters]
// tables of `key = "string"`, `key = bool` and `key = ["string", ...]` (over several lines).
func parseSamconfig(data []byte) ([]samEnv, error) {
	envs := map[string]*samEnv{}
	var order []string
	var section, listKey string
	var list []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if listKey != "" {
			if line == "]" {
				if err := setKey(envs, &order, section, listKey, list); err != nil {
					return nil, fmt.Errorf("line %d: %w", n, err)
				}
				listKey, list = "", nil
				continue
			}
			v, err := strconv.Unquote(strings.TrimSuffix(line, ","))
			if err != nil {
				return nil, fmt.Errorf("line %d: list entry %s: %w", n, line, err)
			}
			list = append(list, v)
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not key = value", n, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if val == "[" {
			listKey = key
			continue
		}
		if err := setKey(envs, &order, section, key, val); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if listKey != "" {
		return nil, fmt.Errorf("list %s is not closed", listKey)
	}
	out := make([]samEnv, 0, len(order))
	for _, name := range order {
		out = append(out, *envs[name])
	}
	return out, sc.Err()
}

func setKey(envs map[string]*samEnv, order *[]string, section, key string, val any) error {
	if section == "" && key == "version" {
		return nil
	}
	env, _, _ := strings.Cut(section, ".")
	if section == "" || env == "" {
		return fmt.Errorf("%s outside an environment's table", key)
	}
	e, ok := envs[env]
	if !ok {
		e = &samEnv{name: env, overrides: map[string]string{}}
		envs[env] = e
		*order = append(*order, env)
	}
	switch key {
	case "stack_name":
		s, err := strconv.Unquote(fmt.Sprint(val))
		if err != nil {
			return fmt.Errorf("stack_name: %w", err)
		}
		e.stackName = s
	case "parameter_overrides":
		l, ok := val.([]string)
		if !ok {
			return fmt.Errorf("parameter_overrides must be a list of Name=value")
		}
		for _, o := range l {
			k, v, ok := strings.Cut(o, "=")
			if !ok {
				return fmt.Errorf("override %q is not Name=value", o)
			}
			e.overrides[k] = v
		}
	}
	return nil
}

func loadSamconfig(t *testing.T) []samEnv {
	t.Helper()
	data, err := os.ReadFile(samconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	envs, err := parseSamconfig(data)
	if err != nil {
		t.Fatalf("samconfig.toml: %v", err)
	}
	if len(envs) == 0 {
		t.Fatal("samconfig.toml has no environment")
	}
	return envs
}

// param returns the value env deploys for a parameter: its override, else the default.
func (e samEnv) param(t *testing.T, tpl *Template, name string) string {
	t.Helper()
	if v, ok := e.overrides[name]; ok {
		return v
	}
	d, err := tpl.ParameterDefault(name)
	if err != nil {
		t.Fatalf("%s: %v", e.name, err)
	}
	return d
}

// checkParameter reports why CloudFormation would refuse v for the parameter p.
func checkParameter(p map[string]any, v string) error {
	if pat, ok := p["AllowedPattern"].(string); ok {
		// The template's patterns use only what Java's (CloudFormation's) and Go's regexps share.
		re, err := regexp.Compile(pat)
		if err != nil {
			return fmt.Errorf("AllowedPattern %q: %w", pat, err)
		}
		if !re.MatchString(v) {
			return fmt.Errorf("%q does not match %s", v, pat)
		}
	}
	if allowed, ok := p["AllowedValues"].([]any); ok && !slices.ContainsFunc(allowed, func(a any) bool { return fmt.Sprint(a) == v }) {
		return fmt.Errorf("%q is not among %v", v, allowed)
	}
	if p["Type"] == "Number" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		for key, bad := range map[string]func(limit float64) bool{
			"MinValue": func(l float64) bool { return n < l },
			"MaxValue": func(l float64) bool { return n > l },
		} {
			if l, ok := p[key]; ok {
				limit, err := strconv.ParseFloat(fmt.Sprint(l), 64)
				if err != nil || bad(limit) {
					return fmt.Errorf("%s outside %s %v", v, key, l)
				}
			}
		}
	}
	return nil
}

func TestSamconfigOverridesAreValid(t *testing.T) {
	tpl := loadTemplate(t)
	for _, e := range loadSamconfig(t) {
		t.Run(e.name, func(t *testing.T) {
			if e.stackName == "" {
				t.Fatal("no stack_name")
			}
			for name, v := range e.overrides {
				p, ok := tpl.Parameters[name]
				if !ok {
					t.Errorf("override of %s, which the template does not declare", name)
					continue
				}
				if err := checkParameter(p, v); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
}

// Two stacks whose prefixes overlap could reach each other's secrets by name; the tag
// condition stops that too, but the prefixes alone must already keep them apart.
func TestSamconfigEnvironmentsDoNotShareSecrets(t *testing.T) {
	tpl := loadTemplate(t)
	prefixes := map[string]string{}
	for _, e := range loadSamconfig(t) {
		p := e.param(t, tpl, "SecretsPrefix")
		if p == "" {
			p = stack.SecretsPrefixFor(e.stackName)
		}
		for other, q := range prefixes {
			if strings.HasPrefix(p, q) || strings.HasPrefix(q, p) {
				t.Errorf("environments %s (%q) and %s (%q) share secrets", e.name, p, other, q)
			}
		}
		prefixes[e.name] = p
	}
	if len(prefixes) < 2 {
		t.Errorf("want at least two environments, got %v", prefixes)
	}
}

// Each environment's retry settings pass the outage checks the defaults pass
// (TestQueueOutlastsAnOutage): an override can undo them.
func TestSamconfigEnvironmentsOutlastAnOutage(t *testing.T) {
	tpl := loadTemplate(t)
	number := func(t *testing.T, s string) int {
		t.Helper()
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%q is not a number", s)
		}
		return n
	}
	for _, e := range loadSamconfig(t) {
		t.Run(e.name, func(t *testing.T) {
			timeout := e.param(t, tpl, "FunctionTimeout")
			vis, ok := Lookup(tpl.Mappings, "FunctionTimeoutSettings", timeout, "VisibilityTimeout")
			if !ok {
				t.Fatalf("FunctionTimeout %s has no visibility timeout", timeout)
			}
			q := queueSettings{
				receives:     number(t, e.param(t, tpl, "MaxReceiveCount")),
				fnTimeout:    time.Duration(number(t, timeout)) * time.Second,
				visibility:   time.Duration(number(t, fmt.Sprint(vis))) * time.Second,
				retention:    time.Duration(number(t, fmt.Sprint(property(t, tpl, "EventsQueue", "MessageRetentionPeriod")))) * time.Second,
				dlqRetention: time.Duration(number(t, fmt.Sprint(property(t, tpl, "EventsDeadLetterQueue", "MessageRetentionPeriod")))) * time.Second,
				records:      time.Duration(number(t, e.param(t, tpl, "IdempotencyTTLHours"))) * time.Hour,
			}
			for _, c := range q.checks() {
				if !c.ok {
					t.Errorf("%s: %s", c.name, c.why)
				}
			}
		})
	}
}

func TestParseSamconfig(t *testing.T) {
	tests := []struct {
		name    string
		toml    string
		want    []samEnv
		wantErr bool
	}{
		{"environments in order", `
version = 0.1
[b.global.parameters]
stack_name = "sb"
[b.deploy.parameters]
confirm_changeset = true
parameter_overrides = [
  "X=1",
  "Y=a=b",
]
[a.global.parameters]
stack_name = "sa"
`, []samEnv{
			{name: "b", stackName: "sb", overrides: map[string]string{"X": "1", "Y": "a=b"}},
			{name: "a", stackName: "sa", overrides: map[string]string{}},
		}, false},
		{"unclosed list", "[a.deploy.parameters]\nparameter_overrides = [\n  \"X=1\",\n", nil, true},
		{"override without =", "[a.deploy.parameters]\nparameter_overrides = [\n  \"X\",\n]\n", nil, true},
		{"key outside a table", "stack_name = \"s\"\n", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSamconfig([]byte(tc.toml))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
