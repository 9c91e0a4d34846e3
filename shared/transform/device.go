package transform

import (
	"net/netip"
	"strings"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/integration"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// Platform returns mParticle's case-sensitive device_info.platform for a platform (an
// integration's act-as platform, or an event's platform for a legacy all-platforms
// integration), "" if unknown (the field is then omitted rather than sent with a value the
// API would refuse). Amazon Appstore apps run on Fire OS, which is Android: mParticle has no
// "Amazon" platform, and its Android outputs are the ones that can use that data. Fire TV is
// a separate mParticle platform.
func Platform(p string) string {
	switch p {
	case "ios":
		return "iOS"
	case "android", "amazon":
		return "Android"
	case "apple_tv":
		return "tvOS"
	case "web", "roku", "fire_tv", "smart_tv", "xbox", "alexa":
		return p
	}
	return ""
}

const nilUUID = "00000000-0000-0000-0000-000000000000"

// deviceID keeps an identifier the schema requires to be a UUID only when it is one, recording
// field f when it drops a malformed one. The all-zero id is what iOS returns for the IDFA
// without tracking authorisation (and Android for a GAID with ad tracking limited): it
// identifies no one, and is left out without being counted, as it is not malformed.
func deviceID(f event.Field, s string, deg *event.Degraded) string {
	if s == "" || s == nilUUID {
		return ""
	}
	if !isUUID(s) {
		deg.Add(f)
		return ""
	}
	return s
}

// isUUID is event.IsUUID (a test holds them to the same answers) eight bytes at a time: its
// per-character switch, then a table lookup per character, made checking two device ids a
// sizeable part of a batch's time.
func isUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	// Five words cover the 32 digits (the last overlaps the fourth). The dashes, checked
	// above, are turned into digits for the word test: '-' (0x2d) xor 0x1d is '0'.
	const dash1 = 0x1d<<0 | 0x1d<<40  // s[8:16]: dashes at 8 and 13
	const dash2 = 0x1d<<16 | 0x1d<<56 // s[16:24]: dashes at 18 and 23
	return hexWord(le64(s[0:8])) && hexWord(le64(s[8:16])^dash1) && hexWord(le64(s[16:24])^dash2) &&
		hexWord(le64(s[24:32])) && hexWord(le64(s[28:36]))
}

func le64(w string) uint64 {
	_ = w[7]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// hexWord reports whether all eight bytes of x are hex digits (either case). For bytes
// under 0x80 adding c sets a byte's high bit exactly when the byte is at least 0x80-c, with
// no carry into the next byte.
func hexWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	if x&highs != 0 {
		return false
	}
	digit := (x + ones*(0x80-'0')) &^ (x + ones*(0x80-'9'-1))
	y := x | ones*0x20 // upper case letters to lower case
	letter := (y + ones*(0x80-'a')) &^ (y + ones*(0x80-'f'-1))
	return (digit|letter)&highs == highs
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
// It fills info and reports whether any field is set.
func deviceInfo(info *mparticle.DeviceInfo, ev *event.Event, in *integration.Integration, deg *event.Degraded) bool {
	*info = mparticle.DeviceInfo{Platform: batchPlatform(ev, in, deg)}
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
	return *info != mparticle.DeviceInfo{}
}

// splitLocale splits a POSIX or BCP 47 locale ("en_US", "en-US", "zh-Hans-CN",
// "de_DE.UTF-8@euro") into mParticle's locale_language and locale_country. Parts that do not
// look like a language (2-3 letters) or region (2 letters or 3 digits) are left out.
func splitLocale(loc string) (lang, country string) {
	// The usual forms, "en_US", "en-US" and "en", already in the cases sent: as below, at a
	// fraction of the cost.
	if len(loc) == 5 && (loc[2] == '_' || loc[2] == '-') && loc[0]-'a' < 26 && loc[1]-'a' < 26 &&
		loc[3]-'A' < 26 && loc[4]-'A' < 26 {
		return loc[:2], loc[3:]
	}
	if len(loc) == 2 && loc[0]-'a' < 26 && loc[1]-'a' < 26 {
		return loc, ""
	}
	return splitAnyLocale(loc)
}

// splitAnyLocale is splitLocale for every form.
func splitAnyLocale(loc string) (lang, country string) {
	for i := 0; i < len(loc); i++ { // a byte loop: strings.IndexAny was most of this function's time
		if loc[i] == '.' || loc[i] == '@' {
			loc = loc[:i]
			break
		}
	}
	first := true
	for len(loc) > 0 {
		part := loc
		loc = ""
		for i := 0; i < len(part); i++ {
			if part[i] == '-' || part[i] == '_' {
				part, loc = part[:i], part[i+1:]
				break
			}
		}
		if first {
			first = false
			if (len(part) == 2 || len(part) == 3) && letters(part) {
				lang = part
				if hasCase(part, 'A') {
					lang = strings.ToLower(part)
				}
			} else {
				return "", ""
			}
			continue
		}
		if len(part) == 2 && letters(part) || len(part) == 3 && numeric(part) {
			if hasCase(part, 'a') {
				part = strings.ToUpper(part)
			}
			return lang, part
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

// hasCase reports whether s has a letter of the case whose 'A' or 'a' is given.
func hasCase(s string, a byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i]-a < 26 {
			return true
		}
	}
	return false
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
	if s == "" || isIPv4(s) {
		return s
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

// isIPv4 reports whether s is a dotted-quad IPv4 address as netip.ParseAddr reads one (four
// decimal fields of 0 to 255, no leading zeros): the usual device address, recognised
// without building an Addr. false leaves the decision to netip.ParseAddr.
func isIPv4(s string) bool {
	fields, val, digits := 0, 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c-'0' < 10:
			if digits == 1 && val == 0 { // a leading zero
				return false
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.' && digits > 0 && fields < 3:
			fields++
			val, digits = 0, 0
		default:
			return false
		}
	}
	return fields == 3 && digits > 0
}
