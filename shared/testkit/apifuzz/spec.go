package apifuzz

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// DeriveSpec returns the OpenAPI description spec with its servers replaced by serverURL
// and, for each named parameter of components.parameters, the given values as examples.
// Fuzzers pick random ids that never match stored data; examples make them also try the
// ids that exist, another app's included, which is where an authorization bug would show.
func DeriveSpec(spec []byte, serverURL string, examples map[string][]string) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("apifuzz: parse spec: %w", err)
	}
	if doc == nil {
		return nil, errors.New("apifuzz: empty spec")
	}
	doc["servers"] = []any{map[string]any{"url": serverURL, "description": "local fuzzing server"}}

	comps, _ := doc["components"].(map[string]any)
	params, _ := comps["parameters"].(map[string]any)
	found := map[string]bool{}
	for _, p := range params {
		param, ok := p.(map[string]any)
		if !ok {
			continue
		}
		name, _ := param["name"].(string)
		values, ok := examples[name]
		if !ok || len(values) == 0 {
			continue
		}
		found[name] = true
		ex := map[string]any{}
		for i, v := range values {
			ex[fmt.Sprintf("example%d", i+1)] = map[string]any{"value": v}
		}
		// OpenAPI allows example or examples, not both.
		delete(param, "example")
		if schema, ok := param["schema"].(map[string]any); ok {
			delete(schema, "example")
		}
		param["examples"] = ex
	}
	for name := range examples {
		if !found[name] {
			return nil, fmt.Errorf("apifuzz: no parameter %q in components.parameters", name)
		}
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("apifuzz: encode spec: %w", err)
	}
	return out, nil
}
