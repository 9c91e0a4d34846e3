// Package templatecheck reads a CloudFormation/SAM template written in YAML, short-form
// intrinsic functions (!Ref, !Sub, !GetAtt, ...) included, into plain Go values, so tests can
// hold template.yaml to the names and settings in shared/stack.
package templatecheck

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is a parsed template. Intrinsic functions appear in their long form: a one-key
// map such as {"Ref": "X"}, {"Fn::Sub": "..."} or {"Fn::GetAtt": ["R", "Attr"]}.
type Template struct {
	Parameters map[string]map[string]any
	Mappings   map[string]any
	Conditions map[string]any
	Globals    map[string]any
	Resources  map[string]Resource
	Outputs    map[string]any
}

// Resource is one entry of the Resources section.
type Resource struct {
	Type       string
	Properties map[string]any
	Metadata   map[string]any
}

// Load reads and parses the template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse parses a YAML template.
func Parse(data []byte) (*Template, error) {
	v, err := parseValue(data)
	if err != nil {
		return nil, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("template is not a mapping")
	}
	t := &Template{
		Mappings:   asMap(top["Mappings"]),
		Conditions: asMap(top["Conditions"]),
		Globals:    asMap(top["Globals"]),
		Outputs:    asMap(top["Outputs"]),
		Parameters: map[string]map[string]any{},
		Resources:  map[string]Resource{},
	}
	for name, p := range asMap(top["Parameters"]) {
		t.Parameters[name] = asMap(p)
	}
	for name, r := range asMap(top["Resources"]) {
		m := asMap(r)
		typ, _ := m["Type"].(string)
		if typ == "" {
			return nil, fmt.Errorf("resource %s has no Type", name)
		}
		t.Resources[name] = Resource{Type: typ, Properties: asMap(m["Properties"]), Metadata: asMap(m["Metadata"])}
	}
	return t, nil
}

// parseValue parses any YAML document into long-form values.
func parseValue(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	return convert(&doc)
}

// ParameterDefault returns a parameter's Default as a string (CloudFormation passes every
// parameter value as one).
func (t *Template) ParameterDefault(name string) (string, error) {
	p, ok := t.Parameters[name]
	if !ok {
		return "", fmt.Errorf("no parameter %s", name)
	}
	d, ok := p["Default"]
	if !ok {
		return "", fmt.Errorf("parameter %s has no Default", name)
	}
	return fmt.Sprint(d), nil
}

// ResourcesOfType returns the names of the resources of one type.
func (t *Template) ResourcesOfType(typ string) []string {
	var names []string
	for name, r := range t.Resources {
		if r.Type == typ {
			names = append(names, name)
		}
	}
	return names
}

// Lookup follows a path of map keys (and decimal list indexes) from v. It reports false when
// any step is missing.
func Lookup(v any, path ...string) (any, bool) {
	for _, key := range path {
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[key]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			var i int
			if _, err := fmt.Sscanf(key, "%d", &i); err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// Intrinsic reports the function name and argument of a long-form intrinsic, a map with a
// single key "Ref", "Condition" or "Fn::*".
func Intrinsic(v any) (fn string, arg any, ok bool) {
	m, isMap := v.(map[string]any)
	if !isMap || len(m) != 1 {
		return "", nil, false
	}
	for k, a := range m {
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, a, true
		}
	}
	return "", nil, false
}

// Ref returns the name a {"Ref": name} refers to.
func Ref(v any) (string, bool) {
	fn, arg, ok := Intrinsic(v)
	if !ok || fn != "Ref" {
		return "", false
	}
	s, ok := arg.(string)
	return s, ok
}

// Sub returns the string of a {"Fn::Sub": string} (the one-argument form).
func Sub(v any) (string, bool) {
	fn, arg, ok := Intrinsic(v)
	if !ok || fn != "Fn::Sub" {
		return "", false
	}
	s, ok := arg.(string)
	return s, ok
}

// GetAtt returns the resource and attribute of a {"Fn::GetAtt": [resource, attribute]}.
func GetAtt(v any) (resource, attribute string, ok bool) {
	fn, arg, isFn := Intrinsic(v)
	if !isFn || fn != "Fn::GetAtt" {
		return "", "", false
	}
	parts, isList := arg.([]any)
	if !isList || len(parts) != 2 {
		return "", "", false
	}
	resource, ok1 := parts[0].(string)
	attribute, ok2 := parts[1].(string)
	return resource, attribute, ok1 && ok2
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

// convert turns a YAML node into maps, lists and scalars, rewriting CloudFormation's short
// tags into the long form the JSON syntax uses.
func convert(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, errors.New("empty document")
		}
		return convert(n.Content[0])
	case yaml.AliasNode:
		return convert(n.Alias)
	}
	v, err := convertPlain(n)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(n.Tag, "!") || strings.HasPrefix(n.Tag, "!!") {
		return v, nil
	}
	return shortForm(n, v)
}

func convertPlain(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			var key string
			if err := n.Content[i].Decode(&key); err != nil {
				return nil, fmt.Errorf("line %d: mapping key: %w", n.Content[i].Line, err)
			}
			if _, dup := m[key]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, key)
			}
			v, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[key] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			// The argument of a short-form function is a string (e.g. !Ref Name).
			return n.Value, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
}

func shortForm(n *yaml.Node, v any) (any, error) {
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		// !GetAtt Resource.Attribute (attribute may itself contain dots) or a list.
		if s, ok := v.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q needs Resource.Attribute", n.Line, s)
			}
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	}
	return map[string]any{"Fn::" + name: v}, nil
}
