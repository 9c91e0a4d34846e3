package forwarder_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/integrationstore"
)

// seedIntegration stores in on the local stack as the Integrations API leaves it: a fresh
// id, its key and secret in a secret named after its app and id, the item in the table.
// in.AppID must be set.
func seedIntegration(t testing.TB, store *integrationstore.Store, sm *secretsmanager.Client, in integration.Integration, key, secret string) integration.Integration {
	t.Helper()
	ctx := context.Background()
	id, err := integrationstore.NewID()
	if err != nil {
		t.Fatal(err)
	}
	in.ID, in.SecretID = id, "nami-mparticle/"+in.AppID+"/"+id
	body, _ := json.Marshal(map[string]string{"key": key, "secret": secret})
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(in.SecretID), SecretString: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}
	if err := store.Create(ctx, &in); err != nil {
		t.Fatal(err)
	}
	return in
}
