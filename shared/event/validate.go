package event

import (
	"strconv"
	"strings"
)

// Validate checks what makes an event deliverable at all (what Decode refuses as invalid),
// reporting the first violation as an *InvalidError: the required fields, a known type, a
// plausible occurred_at, a user.id on user.* events and a device.id or user.id on device.*
// events. Optional values are not checked: the transform omits or cuts what the API would
// refuse. Decode's results always pass; it is exported for events built in code.
func (ev *Event) Validate() error {
	if ev == nil {
		return invalid("", "no event")
	}
	if err := requiredValue("id", ev.ID); err != nil {
		return err
	}
	switch {
	case ev.Type == "":
		return invalid("type", "required")
	case !ev.Type.Valid():
		return invalid("type", "unknown event type")
	}
	if ev.OccurredAt.IsZero() {
		return invalid("occurred_at", "required")
	}
	if y := ev.OccurredAt.Year(); y < MinYear || y > MaxYear {
		return invalid("occurred_at", "year must be between "+strconv.Itoa(MinYear)+" and "+strconv.Itoa(MaxYear))
	}
	if err := requiredValue("app_id", ev.AppID); err != nil {
		return err
	}
	if err := requiredValue("app_platform_id", ev.AppPlatformID); err != nil {
		return err
	}
	if ev.Platform == "" {
		return invalid("platform", "required")
	}
	userID := ""
	if ev.User != nil {
		userID = ev.User.ID
	}
	if ev.Type.IsUser() {
		if ev.User == nil {
			return invalid("user", "required for user.* events")
		}
		if err := requiredValue("user.id", userID); err != nil {
			if userID == "" {
				err.Reason = "required for user.* events"
			}
			return err
		}
	}
	if ev.Type.IsDevice() && userID == "" && (ev.Device == nil || ev.Device.ID == "") {
		return invalid("device.id", "required for device.* events without a user.id")
	}
	return nil
}

func requiredValue(field, v string) *InvalidError {
	if v == "" {
		return invalid(field, "required")
	}
	if len(v) > MaxIDLen {
		return invalid(field, tooLong(MaxIDLen))
	}
	return nil
}

// IsDecimal reports whether s is a price string as the contract allows: digits, optionally a
// point and more digits, within MaxPriceIntDigits/MaxPriceFracDigits (no sign, no exponent).
func IsDecimal(s string) bool {
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if len(intPart) == 0 || len(intPart) > MaxPriceIntDigits || (hasPoint && len(frac) == 0) || len(frac) > MaxPriceFracDigits {
		return false
	}
	return digits(intPart) && digits(frac)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// IsUUID reports whether s is a UUID in its canonical 36-character form (either case), the
// form mParticle's schema requires for device identifiers.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
