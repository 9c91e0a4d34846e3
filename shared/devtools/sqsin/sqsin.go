// Package sqsin puts platform events on the local events queue the way the platform does
// (`make dev-send`): one event per message body, MessageGroupId set to the app id.
package sqsin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Message is one message to enqueue.
type Message struct {
	Body    string
	GroupID string // the event's app_id when it has one
	Source  string // file (and record) it came from
}

// ErrAPIEvent marks a file holding an API Gateway event, which belongs to `make invoke`.
var ErrAPIEvent = errors.New("an API Gateway event, not a platform event (use make invoke FUNCTION=integrations)")

// Load reads the messages of a file, or of every *.json file of a directory (sorted; API
// Gateway events there are skipped and listed in skipped). A file may hold a bare event,
// a JSON array of events, or an SQS event ({"Records":[{"body":...}]}) such as events/sqs-*.json.
// Anything else is sent as it is, which is how to try invalid input.
func Load(path string) (msgs []Message, skipped []string, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	files := []string{path}
	if fi.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, "*.json"))
		if err != nil {
			return nil, nil, err
		}
		slices.Sort(files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		m, err := Parse(data, f)
		if errors.Is(err, ErrAPIEvent) && fi.IsDir() {
			skipped = append(skipped, f)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		msgs = append(msgs, m...)
	}
	return msgs, skipped, nil
}

// Parse reads the messages of one file's content (see Load).
func Parse(data []byte, source string) ([]Message, error) {
	trimmed := bytes.TrimSpace(data)
	var probe struct {
		Records        []json.RawMessage `json:"Records"`
		RequestContext json.RawMessage   `json:"requestContext"`
	}
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &probe) == nil {
		switch {
		case probe.RequestContext != nil:
			return nil, ErrAPIEvent
		case probe.Records != nil:
			return fromRecords(probe.Records, source)
		}
	}
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var items []json.RawMessage
		if json.Unmarshal(trimmed, &items) == nil {
			out := make([]Message, 0, len(items))
			for i, it := range items {
				out = append(out, bare(it, fmt.Sprintf("%s[%d]", source, i)))
			}
			return out, nil
		}
	}
	if len(trimmed) == 0 {
		return nil, errors.New("empty file")
	}
	return []Message{bare(trimmed, source)}, nil
}

func fromRecords(records []json.RawMessage, source string) ([]Message, error) {
	out := make([]Message, 0, len(records))
	for i, raw := range records {
		var r struct {
			Body       *string           `json:"body"`
			Attributes map[string]string `json:"attributes"`
		}
		if err := json.Unmarshal(raw, &r); err != nil || r.Body == nil {
			return nil, fmt.Errorf("record %d has no string body", i)
		}
		m := Message{Body: *r.Body, GroupID: r.Attributes["MessageGroupId"], Source: fmt.Sprintf("%s record %d", source, i)}
		if m.GroupID == "" {
			m.GroupID = appID([]byte(m.Body))
		}
		out = append(out, m)
	}
	return out, nil
}

// bare sends JSON compacted (as a producer would) and anything else unchanged.
func bare(data []byte, source string) Message {
	body := string(data)
	var buf bytes.Buffer
	if json.Compact(&buf, data) == nil {
		body = buf.String()
	}
	return Message{Body: body, GroupID: appID(data), Source: source}
}

func appID(body []byte) string {
	var ev struct {
		AppID string `json:"app_id"`
	}
	if json.Unmarshal(body, &ev) != nil {
		return ""
	}
	return strings.TrimSpace(ev.AppID)
}

// SQSAPI is the call Send makes.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Send enqueues the messages in order and returns their SQS message ids.
func Send(ctx context.Context, api SQSAPI, queueURL string, msgs []Message) ([]string, error) {
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		in := &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(m.Body)}
		if m.GroupID != "" {
			in.MessageGroupId = aws.String(m.GroupID)
		}
		out, err := api.SendMessage(ctx, in)
		if err != nil {
			return ids, fmt.Errorf("send %s: %w", m.Source, err)
		}
		ids = append(ids, aws.ToString(out.MessageId))
	}
	return ids, nil
}
