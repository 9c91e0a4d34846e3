package transform

import (
	"net/netip"
	"strings"

	"github.com/namiml/mparticle-bridge/shared/event"
	"github.com/namiml/mparticle-bridge/shared/mparticle"
)

// platforms maps an integration's act-as platform to mParticle's case-sensitive
// device_info.platform enum. Amazon Appstore apps run on Fire OS, which is Android: mParticle
// has no "Amazon" platform, and its Android outputs are the ones that can use that data.
// Fire TV is a separate mParticle platform.
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

// Platform returns mParticle's device_info.platform for an integration platform, "" if unknown
// (the field is then omitted rather than sent with a value the API would refuse).
func Platform(p string) string { return platforms[p] }

const nilUUID = "00000000-0000-0000-0000-000000000000"

// deviceID keeps an identifier the schema requires to be a UUID only when it is one. The
// all-zero id is what iOS returns for the IDFA without tracking authorisation (and Android for
// a GAID with ad tracking limited): it identifies no one.
func deviceID(s string) string {
	if !event.IsUUID(s) || s == nilUUID {
		return ""
	}
	return s
}

// deviceInfo is the feed's platform (from the integration: the data is bound to the act-as
// platform of its credentials) plus the device's identifiers and descriptive fields.
func deviceInfo(d *event.Device, feedPlatform string) *mparticle.DeviceInfo {
	info := mparticle.DeviceInfo{Platform: Platform(feedPlatform)}
	if d != nil {
		info.IOSIDFV = deviceID(d.IDFV)
		info.IOSAdvertisingID = deviceID(d.IDFA)
		info.AndroidAdvertisingID = deviceID(d.GAID)
		if len(d.AndroidID) <= event.MaxIDLen {
			info.AndroidUUID = d.AndroidID
		}
		info.OSVersion = truncValue(d.OSVersion)
		info.DeviceModel = truncValue(d.Model)
		info.LocaleLanguage, info.LocaleCountry = splitLocale(d.Locale)
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
