package transform

import (
	"net/netip"
	"strings"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// platforms maps a platform (an integration's act-as platform, or an event's platform for a
// legacy all-platforms integration) to mParticle's case-sensitive device_info.platform enum.
// Amazon Appstore apps run on Fire OS, which is Android: mParticle has no "Amazon" platform,
// and its Android outputs are the ones that can use that data. Fire TV is a separate
// mParticle platform.
var platforms = map[string]string{
	"ios":      "iOS",
	"android":  "Android",
	"amazon":   "Android",
	"apple_tv": "tvOS",
	"web":      "web",
	"roku":     "roku",
	"fire_tv":  "fire_tv",
	"smart_tv": "smart_tv",
	"xbox":     "xbox",
	"alexa":    "alexa",
}

// Platform returns mParticle's device_info.platform for a platform, "" if unknown
// (the field is then omitted rather than sent with a value the API would refuse).
func Platform(p string) string { return platforms[p] }

const nilUUID = "00000000-0000-0000-0000-000000000000"

// deviceID keeps an identifier the schema requires to be a UUID only when it is one, recording
// field f when it drops a malformed one. The all-zero id is what iOS returns for the IDFA
// without tracking authorisation (and Android for a GAID with ad tracking limited): it
// identifies no one, and is left out without being counted, as it is not malformed.
func deviceID(f event.Field, s string, deg *event.Degraded) string {
	if s == "" || s == nilUUID {
		return ""
	}
	if !event.IsUUID(s) {
		deg.Add(f)
		return ""
	}
	return s
}

// batchPlatform is the device_info.platform of the batch integration in receives for ev. A
// feed's data is bound to the act-as platform of its credentials, so it is normally the
// integration's platform. A legacy all-platforms integration has one feed for every platform
// of the app: there each batch says the platform its own event came from (an event platform
// mParticle has no value for leaves it out, recorded as degraded).
func batchPlatform(ev *event.Event, in *integration.Integration, deg *event.Degraded) string {
	if in.Scope != integration.ScopeAllPlatforms {
		return Platform(in.Platform)
	}
	p := Platform(ev.Platform)
	if p == "" && ev.Platform != "" {
		deg.Add(event.FieldPlatform)
	}
	return p
}

// deviceInfo is the batch's platform plus the device identifiers that platform's outputs use
// (iOS: IDFV and IDFA; Android, Amazon included: GAID and Android ID; other platforms have
// none of these) and the device's descriptive fields. An identifier of another platform is
// never sent: it would attach, say, an Android advertising id to an iOS profile.
func deviceInfo(ev *event.Event, in *integration.Integration, deg *event.Degraded) *mparticle.DeviceInfo {
	info := mparticle.DeviceInfo{Platform: batchPlatform(ev, in, deg)}
	if d := ev.Device; d != nil {
		switch info.Platform {
		case "iOS":
			info.IOSIDFV = deviceID(event.FieldDeviceIDFV, d.IDFV, deg)
			info.IOSAdvertisingID = deviceID(event.FieldDeviceIDFA, d.IDFA, deg)
		case "Android":
			info.AndroidAdvertisingID = deviceID(event.FieldDeviceGAID, d.GAID, deg)
			// The Android ID has no fixed form (16 hex digits on most devices), so only its
			// length is bounded: a cut identifier would be another device's.
			if len(d.AndroidID) <= event.MaxIDLen {
				info.AndroidUUID = d.AndroidID
			} else {
				deg.Add(event.FieldDeviceAndroidID)
			}
		}
		info.OSVersion = truncValue(event.FieldDeviceOSVersion, d.OSVersion, deg)
		info.DeviceModel = truncValue(event.FieldDeviceModel, d.Model, deg)
		info.LocaleLanguage, info.LocaleCountry = splitLocale(d.Locale)
		if info.LocaleLanguage == "" && d.Locale != "" {
			deg.Add(event.FieldDeviceLocale)
		}
	}
	if info == (mparticle.DeviceInfo{}) {
		return nil
	}
	return &info
}

// splitLocale splits a POSIX or BCP 47 locale ("en_US", "en-US", "zh-Hans-CN",
// "de_DE.UTF-8@euro") into mParticle's locale_language and locale_country. Parts that do not
// look like a language (2-3 letters) or region (2 letters or 3 digits) are left out.
func splitLocale(loc string) (lang, country string) {
	if i := strings.IndexAny(loc, ".@"); i >= 0 {
		loc = loc[:i]
	}
	first := true
	for len(loc) > 0 {
		part := loc
		if i := strings.IndexAny(loc, "-_"); i >= 0 {
			part, loc = loc[:i], loc[i+1:]
		} else {
			loc = ""
		}
		if first {
			first = false
			if (len(part) == 2 || len(part) == 3) && letters(part) {
				lang = strings.ToLower(part)
			} else {
				return "", ""
			}
			continue
		}
		if len(part) == 2 && letters(part) || len(part) == 3 && numeric(part) {
			return lang, strings.ToUpper(part)
		}
	}
	return lang, ""
}

func letters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func numeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ip keeps the device address only if it is a plain IPv4 or IPv6 address (the schema's
// formats; a zone such as "%eth0" is neither). An IPv4-mapped IPv6 address is sent as IPv4.
func ip(s string) string {
	if s == "" {
		return ""
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return ""
	}
	if a.Is4In6() {
		return a.Unmap().String()
	}
	return s
}
