// Package devmp puts the built-in mParticle contract server (shared/testkit/mpserver) in front of a
// local stack: the feeds it accepts are the integrations stored through the local API, so
// an integration created with any key and secret delivers, while a request with credentials
// no integration holds is refused, as mParticle would.
package devmp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/secretstore"
	"github.com/namiml/mparticle-bridge/shared/testkit/mpserver"
)

// Feed is one set of credentials the contract server accepts, with a readable name.
type Feed struct {
	Key, Secret string
	Name        string
}

// Directory lists the feeds the local stack's integrations hold.
type Directory interface {
	Feeds(ctx context.Context) ([]Feed, error)
}

// Server registers feeds from a Directory on demand: the first request with an unknown key
// triggers a refresh, so a new integration delivers at once.
type Server struct {
	mp  *mpserver.Server
	dir Directory
	log *slog.Logger

	mu    sync.Mutex
	known map[string]string // key → registered name
	names map[string]string // name → key
}

// New wraps mp.
func New(mp *mpserver.Server, dir Directory, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{mp: mp, dir: dir, log: log, known: map[string]string{}, names: map[string]string{}}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mpserver.IsAPIPath(r.URL.Path) {
		if key, _, ok := r.BasicAuth(); ok && !s.isKnown(key) {
			if err := s.Refresh(r.Context()); err != nil {
				s.log.Warn("mparticle stand-in: could not list local integrations", "error", err.Error())
			}
		}
	}
	s.mp.ServeHTTP(w, r)
}

func (s *Server) isKnown(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.known[key]
	return ok
}

// Refresh registers every feed of the directory not yet known.
func (s *Server) Refresh(ctx context.Context) error {
	feeds, err := s.dir.Feeds(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range feeds {
		if _, ok := s.known[f.Key]; ok {
			continue
		}
		// mpserver reports by name, which must stay unique per key (a rotated key of the
		// same integration gets a suffix).
		name := f.Name
		for i := 2; ; i++ {
			if other, taken := s.names[name]; !taken || other == f.Key {
				break
			}
			name = fmt.Sprintf("%s #%d", f.Name, i)
		}
		s.mp.AddFeed(f.Key, f.Secret, name)
		s.known[f.Key] = name
		s.names[name] = f.Key
		s.log.Info("mparticle stand-in: feed registered", "feed", name)
	}
	return nil
}

// DynamoDB and SecretsManager are the calls StoreDirectory makes.
type DynamoDB interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// StoreDirectory reads the feeds from the local integrations table and their secrets.
type StoreDirectory struct {
	DB      DynamoDB
	Secrets secretstore.SecretsReader
	Table   string
}

// Feeds implements Directory. A Scan is fine here: it runs against the local stand-in only.
func (d StoreDirectory) Feeds(ctx context.Context) ([]Feed, error) {
	var out []Feed
	var start map[string]ddbtypes.AttributeValue
	for {
		page, err := d.DB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(d.Table), ExclusiveStartKey: start})
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", d.Table, err)
		}
		for _, item := range page.Items {
			var in integration.Integration
			if err := attributevalue.UnmarshalMap(item, &in); err != nil || in.SecretID == "" {
				continue
			}
			sv, err := d.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(in.SecretID)})
			if err != nil {
				continue // deleted meanwhile
			}
			c, err := secretstore.Parse(aws.ToString(sv.SecretString))
			if err != nil {
				continue
			}
			out = append(out, Feed{Key: c.Key, Secret: c.Secret, Name: FeedName(in)})
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// FeedName is how the contract server names an integration's feed in its output.
func FeedName(in integration.Integration) string {
	id := in.ID
	if len(id) > 8 {
		id = id[len(id)-8:] // the random end of a UUIDv7
	}
	return fmt.Sprintf("%s (%s, …%s)", in.Name, in.Platform, id)
}
