package integrationstore

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/stack"
)

// CursorPattern is the shape of a List cursor (the API's `next` token): the 16 bytes of the
// last listed integration's id, base64url without padding. 16 bytes leave 4 unused bits in
// the last of the 22 characters, hence its short class.
//
// Every string of this shape is a valid cursor: it names a position in the sort order of
// one app's integrations, and List only ever reads the caller's app, so a token from
// another app, or made up, can reach nothing but the caller's own items. That lets the
// API's description state exactly which tokens are accepted.
const CursorPattern = `^[A-Za-z0-9_-]{21}[AQgw]$`

// cursorRE is compiled on first use: only the Integrations API lists, and the Forwarder,
// which links this package too, would otherwise compile it at every cold start.
var cursorRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(CursorPattern) })

func encodeCursor(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", fmt.Errorf("integrationstore: encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(u[:]), nil
}

// decodeCursor turns a token into the ExclusiveStartKey of a Query of appID's partition.
func decodeCursor(token, appID string) (map[string]types.AttributeValue, error) {
	if !cursorRE().MatchString(token) {
		return nil, fmt.Errorf("%w: not a cursor", ErrBadCursor)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url", ErrBadCursor)
	}
	u, err := uuid.FromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadCursor, len(raw))
	}
	return map[string]types.AttributeValue{
		stack.TableHashKey:  &types.AttributeValueMemberS{Value: PK(appID)},
		stack.TableRangeKey: &types.AttributeValueMemberS{Value: SK(u.String())},
	}, nil
}
