package integrationstore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/namiml/mparticle-bridge/shared/stack"
)

// cursor is the LastEvaluatedKey of a page, as the opaque `next` token carries it.
type cursor struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
}

// maxCursorLen bounds a token before decoding: a real one is about 120 characters.
const maxCursorLen = 512

func encodeCursor(appID, id string) (string, error) {
	b, err := json.Marshal(cursor{PK: PK(appID), SK: SK(id)})
	if err != nil {
		return "", fmt.Errorf("integrationstore: encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeCursor turns a token back into an ExclusiveStartKey. It accepts only a key of
// appID's partition naming an integration id, so a token forged or copied from another
// app cannot start a Query anywhere else.
func decodeCursor(token, appID string) (map[string]types.AttributeValue, error) {
	if len(token) > maxCursorLen {
		return nil, fmt.Errorf("%w: too long", ErrBadCursor)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return nil, fmt.Errorf("%w: not base64url", ErrBadCursor)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var c cursor
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, fmt.Errorf("%w: malformed", ErrBadCursor)
	}
	if c.PK != PK(appID) {
		return nil, fmt.Errorf("%w: not issued for this app", ErrBadCursor)
	}
	id, ok := strings.CutPrefix(c.SK, skPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: bad sort key", ErrBadCursor)
	}
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return nil, fmt.Errorf("%w: bad integration id", ErrBadCursor)
	}
	return map[string]types.AttributeValue{
		stack.TableHashKey:  &types.AttributeValueMemberS{Value: c.PK},
		stack.TableRangeKey: &types.AttributeValueMemberS{Value: c.SK},
	}, nil
}
