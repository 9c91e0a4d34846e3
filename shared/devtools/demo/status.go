package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// deliveryStatusView is the part of an integration's GET the demo shows: delivery_status.
type deliveryStatusView struct {
	DeliveryStatus struct {
		LastDeliveryAt *time.Time `json:"last_delivery_at"`
		LastFailure    *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"last_failure"`
		Last24h struct {
			Delivered    int `json:"delivered"`
			Retried      int `json:"retried"`
			DeadLettered int `json:"dead_lettered"`
			Skipped      int `json:"skipped"`
		} `json:"last_24h"`
	} `json:"delivery_status"`
}

// deliveryStatuses reads each integration's delivery_status through the API, one line
// each, in ids order. The Forwarder writes it just after settling a batch, so an
// integration with nothing yet is read again a few times.
func deliveryStatuses(ctx context.Context, cfg Config, token, appID string, ids []string) []string {
	lines := make([]string, len(ids))
	for i, id := range ids {
		for try := 0; ; try++ {
			v, err := getStatus(ctx, cfg, token, appID, id)
			if err != nil {
				lines[i] = "unavailable: " + err.Error()
				break
			}
			c := v.DeliveryStatus.Last24h
			lines[i] = fmt.Sprintf("delivered %d, retried %d, dead-lettered %d, skipped %d in the last 24 h",
				c.Delivered, c.Retried, c.DeadLettered, c.Skipped)
			if t := v.DeliveryStatus.LastDeliveryAt; t != nil {
				lines[i] += "; last delivery " + t.Local().Format(time.TimeOnly)
			}
			if f := v.DeliveryStatus.LastFailure; f != nil {
				lines[i] += "; last failure " + f.Code + ": " + f.Message
			}
			if c.Delivered+c.Retried+c.DeadLettered+c.Skipped > 0 || try == 5 {
				break
			}
			select {
			case <-ctx.Done():
				return lines
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	return lines
}

func getStatus(ctx context.Context, cfg Config, token, appID, id string) (deliveryStatusView, error) {
	var v deliveryStatusView
	u := cfg.Stack.APIURL + "/v1/apps/" + url.PathEscape(appID) + "/integrations/mparticle/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return v, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := cfg.HTTP.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return v, fmt.Errorf("decode: %w", err)
	}
	return v, nil
}
