package api

import (
	"context"
	"time"

	"github.com/namiml/mparticle-bridge/shared/integration"
)

// deliveryStatusView is an integration's delivery_status: what the Forwarder did for it in
// the last 24 hours. Read-only; a create answers with an empty one.
type deliveryStatusView struct {
	LastDeliveryAt *time.Time   `json:"last_delivery_at"`
	LastFailureAt  *time.Time   `json:"last_failure_at"`
	LastFailure    *failureView `json:"last_failure"`
	Last24h        countsView   `json:"last_24h"`
}

type failureView struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type countsView struct {
	Delivered    int `json:"delivered"`
	Retried      int `json:"retried"`
	DeadLettered int `json:"dead_lettered"`
	Skipped      int `json:"skipped"`
}

// toDeliveryStatus shows a status; the last_* values are null when there was none in the
// last 24 hours.
func toDeliveryStatus(st integration.DeliveryStatus) *deliveryStatusView {
	v := &deliveryStatusView{Last24h: countsView{
		Delivered: st.Delivered, Retried: st.Retried, DeadLettered: st.DeadLettered, Skipped: st.Skipped,
	}}
	if t := st.LastDeliveryAt; !t.IsZero() {
		v.LastDeliveryAt = &t
	}
	if t := st.LastFailureAt; !t.IsZero() {
		v.LastFailureAt = &t
		v.LastFailure = &failureView{Code: st.LastFailureCode, Message: st.LastFailureMessage}
	}
	return v
}

// withStatus shows one integration with its delivery status, read for it alone.
func (h *Handler) withStatus(ctx context.Context, in integration.Integration) (resource, *apiError) {
	statuses, err := h.integrations.DeliveryStatuses(ctx, in.AppID, []string{in.ID})
	if err != nil {
		return resource{}, fromDomain(err)
	}
	r := toResource(in)
	r.DeliveryStatus = toDeliveryStatus(statuses[in.ID])
	return r, nil
}
