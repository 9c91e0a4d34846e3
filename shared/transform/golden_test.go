package transform_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/event/eventtest"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
	"github.com/namiml/mparticle-bridge/shared/transform"
	"github.com/namiml/mparticle-bridge/shared/transform/transformtest"
)

// update rewrites the golden files from the current output: go test ./shared/transform -update.
var update = flag.Bool("update", false, "rewrite transformtest/testdata/*.golden.json from the current output")

// TestGoldenBatches holds the whole mapping of each event type to the bytes the client sends:
// transformtest/testdata/<type>.golden.json is the batch of the type's sample event (package
// eventtest) for its platform's feed (transformtest.FeedFor), as encoded on the wire. A change
// to the mapping shows up here as a diff of those files; regenerate them with -update and
// read the diff before committing.
func TestGoldenBatches(t *testing.T) {
	for _, typ := range event.AllTypes {
		t.Run(string(typ), func(t *testing.T) {
			ev, err := event.Decode(eventtest.Sample(typ))
			if err != nil {
				t.Fatal(err)
			}
			feed := transformtest.FeedFor(typ)
			res, err := transform.ToBatch(ev, &feed)
			if err != nil {
				t.Fatal(err)
			}
			wire, err := mparticle.AppendBatch(nil, &res.Batch)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, wire, "", "  "); err != nil {
				t.Fatalf("encoder output is not JSON: %v", err)
			}
			pretty.WriteByte('\n')
			dir := filepath.Join("transformtest", "testdata")
			path := filepath.Join(dir, string(typ)+".golden.json")
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./shared/transform -run TestGoldenBatches -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("batch of %s differs from %s:\ngot:\n%s\nwant:\n%s", typ, path, pretty.Bytes(), want)
			}
		})
	}
}
