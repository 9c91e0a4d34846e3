package forwarder

import (
	"context"
	"log/slog"

	"github.com/namiml/mparticle-bridge/shared/integration"
)

// noteHealth keeps an integration's health mark in step with what its feed's deliveries
// ended in (seen): credentials refused or a redirect mark it unhealthy, for the Control
// Center to show; a delivery to an unhealthy feed clears the mark.
func (h *Handler) noteHealth(ctx context.Context, in *integration.Integration, seen map[Outcome]bool) {
	switch {
	case seen[AuthFailed]:
		h.markUnhealthy(ctx, in, "mParticle refused the server-to-server key and secret (401/403)")
	case seen[Misdirected]:
		h.markUnhealthy(ctx, in, "mParticle answered with a redirect (3xx): the integration's pod or endpoint is misconfigured")
	case seen[Delivered] && in.Health == integration.HealthUnhealthy:
		h.markHealthy(ctx, in)
	}
}

// markHealthy clears an unhealthy mark once the feed accepts data again (the customer fixed
// the secret), so the Control Center stops showing a stale error.
func (h *Handler) markHealthy(ctx context.Context, in *integration.Integration) {
	h.deps.Logger.LogAttrs(ctx, slog.LevelInfo, "integration healthy again",
		slog.String("app_id", in.AppID), slog.String("integration_id", in.ID))
	if h.deps.Health == nil {
		return
	}
	if err := h.deps.Health.SetHealth(ctx, in.AppID, in.ID, integration.HealthOK, "", h.deps.Now()); err != nil {
		h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not record integration health",
			slog.String("integration_id", in.ID), slog.String("error", err.Error()))
		return
	}
	h.deps.Integrations.Invalidate(in.AppID)
}

func (h *Handler) markUnhealthy(ctx context.Context, in *integration.Integration, why string) {
	h.deps.Logger.LogAttrs(ctx, slog.LevelError, "integration unhealthy",
		slog.String("app_id", in.AppID), slog.String("integration_id", in.ID), slog.String("reason", why))
	if h.deps.Health == nil {
		return
	}
	if err := h.deps.Health.SetHealth(ctx, in.AppID, in.ID, integration.HealthUnhealthy, why, h.deps.Now()); err != nil {
		h.deps.Logger.LogAttrs(ctx, slog.LevelWarn, "could not record integration health",
			slog.String("integration_id", in.ID), slog.String("error", err.Error()))
	}
}
