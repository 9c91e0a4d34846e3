package templatecheck

import (
	"reflect"
	"testing"
)

func TestParseShortForms(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		path []string
		want any
	}{
		{"ref", "A: !Ref Param", []string{"A"}, map[string]any{"Ref": "Param"}},
		{"sub", "A: !Sub ${AWS::StackName}-x", []string{"A"}, map[string]any{"Fn::Sub": "${AWS::StackName}-x"}},
		{"getatt dotted", "A: !GetAtt Queue.Arn", []string{"A"}, map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}}},
		{"getatt keeps nested attribute", "A: !GetAtt Db.Endpoint.Address", []string{"A"}, map[string]any{"Fn::GetAtt": []any{"Db", "Endpoint.Address"}}},
		{"getatt list", "A: !GetAtt [Queue, Arn]", []string{"A"}, map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}}},
		{"nested functions", "A: !If [C, !Ref X, !Ref AWS::NoValue]", []string{"A"},
			map[string]any{"Fn::If": []any{"C", map[string]any{"Ref": "X"}, map[string]any{"Ref": "AWS::NoValue"}}}},
		{"find in map", "A: !FindInMap [M, !Ref K, V]", []string{"A"},
			map[string]any{"Fn::FindInMap": []any{"M", map[string]any{"Ref": "K"}, "V"}}},
		{"tag on a mapping", "A: !If\n  - C\n  - X: 1\n  - Y: 2", []string{"A"},
			map[string]any{"Fn::If": []any{"C", map[string]any{"X": 1}, map[string]any{"Y": 2}}}},
		{"condition", "A: !Condition C", []string{"A"}, map[string]any{"Condition": "C"}},
		{"plain scalars keep their types", "A: [1, \"1\", true, x]", []string{"A"}, []any{1, "1", true, "x"}},
		{"standard tags are not functions", "A: !!str 30", []string{"A"}, "30"},
		{"aliases resolve", "X: &x {K: V}\nA: *x", []string{"A", "K"}, "V"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseValue([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := Lookup(v, tc.path...)
			if !ok {
				t.Fatalf("path %v missing in %#v", tc.path, v)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{"getatt without attribute", "Resources:\n  R:\n    Type: T\n    Properties:\n      A: !GetAtt Queue"},
		{"duplicate key", "Resources:\n  R:\n    Type: T\n  R:\n    Type: T"},
		{"resource without type", "Resources:\n  R:\n    Properties: {}"},
		{"not a mapping", "- a\n- b"},
		{"invalid yaml", "A: [1, 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.yaml)); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestParseSections(t *testing.T) {
	tpl, err := Parse([]byte(`
Parameters:
  Size: {Type: Number, Default: 100}
  Name: {Type: String}
Resources:
  Q:
    Type: AWS::SQS::Queue
    Metadata: {BuildMethod: go1.x}
    Properties: {QueueName: !Sub "${AWS::StackName}-q"}
  T:
    Type: AWS::DynamoDB::Table
`))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := tpl.ParameterDefault("Size"); err != nil || d != "100" {
		t.Errorf("Size default = %q, %v; want 100", d, err)
	}
	if _, err := tpl.ParameterDefault("Name"); err == nil {
		t.Error("Name has no default: want an error")
	}
	if _, err := tpl.ParameterDefault("Missing"); err == nil {
		t.Error("Missing parameter: want an error")
	}
	if got := tpl.ResourcesOfType("AWS::SQS::Queue"); !reflect.DeepEqual(got, []string{"Q"}) {
		t.Errorf("queues = %v", got)
	}
	if s, ok := Sub(tpl.Resources["Q"].Properties["QueueName"]); !ok || s != "${AWS::StackName}-q" {
		t.Errorf("QueueName = %q, %v", s, ok)
	}
	if tpl.Resources["Q"].Metadata["BuildMethod"] != "go1.x" {
		t.Errorf("metadata = %v", tpl.Resources["Q"].Metadata)
	}
	if tpl.Resources["T"].Properties == nil {
		t.Error("a resource without Properties gets an empty map, so lookups need no nil checks")
	}
}

func TestIntrinsicHelpers(t *testing.T) {
	ref := map[string]any{"Ref": "X"}
	getAtt := map[string]any{"Fn::GetAtt": []any{"R", "Arn"}}
	notFn := map[string]any{"Ref": "X", "Other": 1}
	if n, ok := Ref(ref); !ok || n != "X" {
		t.Errorf("Ref(ref) = %q, %v", n, ok)
	}
	if _, ok := Ref(getAtt); ok {
		t.Error("Ref(getAtt) should fail")
	}
	if _, _, ok := Intrinsic(notFn); ok {
		t.Error("a two-key map is not an intrinsic")
	}
	if _, _, ok := Intrinsic(map[string]any{"QueueName": "x"}); ok {
		t.Error("a plain property is not an intrinsic")
	}
	if r, a, ok := GetAtt(getAtt); !ok || r != "R" || a != "Arn" {
		t.Errorf("GetAtt = %q %q %v", r, a, ok)
	}
	if _, ok := Sub(ref); ok {
		t.Error("Sub(ref) should fail")
	}
	if v, ok := Lookup([]any{"a", "b"}, "1"); !ok || v != "b" {
		t.Errorf("Lookup index = %v %v", v, ok)
	}
	if _, ok := Lookup([]any{"a"}, "3"); ok {
		t.Error("Lookup out of range should fail")
	}
}
