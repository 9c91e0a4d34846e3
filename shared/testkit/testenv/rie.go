package testenv

import (
	"context"
	"testing"

	"github.com/namiml/mparticle-bridge/shared/devtools/repo"
	"github.com/namiml/mparticle-bridge/shared/devtools/rie"
)

// RIE returns the pinned Lambda Runtime Interface Emulator, installing it into the
// repository's .bin (what `make rie` does) when it is missing. Under -short it skips t;
// otherwise it fails t when the emulator can be neither found nor installed.
func RIE(t testing.TB) string {
	t.Helper()
	SkipShort(t, "the Lambda Runtime Interface Emulator (aws-lambda-rie)")
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	if bin, err := rie.Find(root); err == nil {
		return bin
	}
	bin, err := rie.Install(context.Background(), root)
	if err != nil {
		t.Fatalf("aws-lambda-rie is required and could not be installed: %v", err)
	}
	return bin
}
