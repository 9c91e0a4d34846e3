package mpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Pretty renders an accepted batch for a person watching `make dev`: a summary line, one
// line per event, then the batch as indented JSON. It never fails; unreadable input is
// shown as is.
func Pretty(feedName string, raw json.RawMessage) string {
	var b struct {
		Environment    string            `json:"environment"`
		MPID           json.Number       `json:"mpid"`
		UserIdentities map[string]any    `json:"user_identities"`
		UserAttributes map[string]any    `json:"user_attributes"`
		DeviceInfo     map[string]any    `json:"device_info"`
		Events         []json.RawMessage `json:"events"`
	}
	var sb strings.Builder
	_ = json.Unmarshal(raw, &b)
	fmt.Fprintf(&sb, "── feed %q · %s", feedName, b.Environment)
	for _, k := range sortedKeys(b.UserIdentities) {
		fmt.Fprintf(&sb, " · %s=%v", k, b.UserIdentities[k])
	}
	if b.MPID != "" {
		fmt.Fprintf(&sb, " · mpid=%s", b.MPID)
	}
	if p, ok := b.DeviceInfo["platform"]; ok {
		fmt.Fprintf(&sb, " · platform=%v", p)
	}
	fmt.Fprintf(&sb, " · %d event(s), %d user attribute(s)\n", len(b.Events), len(b.UserAttributes))
	for _, e := range b.Events {
		sb.WriteString("   " + eventLine(e) + "\n")
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, raw, "   ", "  "); err != nil {
		sb.WriteString("   " + string(raw) + "\n")
	} else {
		sb.WriteString("   " + ind.String() + "\n")
	}
	return sb.String()
}

func eventLine(raw json.RawMessage) string {
	var e struct {
		EventType string `json:"event_type"`
		Data      struct {
			Timestamp       int64          `json:"timestamp_unixtime_ms"`
			EventName       string         `json:"event_name"`
			CustomEventType string         `json:"custom_event_type"`
			ProductAction   map[string]any `json:"product_action"`
			CurrencyCode    string         `json:"currency_code"`
			Attrs           map[string]any `json:"custom_attributes"`
		} `json:"data"`
	}
	_ = json.Unmarshal(raw, &e)
	parts := []string{e.EventType}
	if e.Data.EventName != "" {
		parts = append(parts, fmt.Sprintf("%q", e.Data.EventName))
	}
	if e.Data.CustomEventType != "" {
		parts = append(parts, "("+e.Data.CustomEventType+")")
	}
	if pa := e.Data.ProductAction; pa != nil {
		parts = append(parts, fmt.Sprintf("%v", pa["action"]))
		if t, ok := pa["total_amount"]; ok {
			parts = append(parts, fmt.Sprintf("%v %s", t, e.Data.CurrencyCode))
		}
	}
	if e.Data.Timestamp > 0 {
		parts = append(parts, "at "+time.UnixMilli(e.Data.Timestamp).UTC().Format(time.RFC3339Nano))
	}
	if len(e.Data.Attrs) > 0 {
		keys := sortedKeys(e.Data.Attrs)
		kv := make([]string, len(keys))
		for i, k := range keys {
			kv[i] = fmt.Sprintf("%s=%v", k, e.Data.Attrs[k])
		}
		parts = append(parts, "{"+strings.Join(kv, ", ")+"}")
	}
	return strings.Join(parts, " ")
}
